// tsland/arena: allocators over one ArrayBuffer or SharedArrayBuffer, and record layouts over them.
export { createArena } from './create.js';
export { ArenaError } from './errors.js';
export type { Arena, ArenaOptions, ArenaStats, ArenaStrategy } from './types.js';
export { defineStruct } from './struct.js';
export type { BoundStruct, FieldInfo, FieldType, Getters, Setters, StructDef, StructSpec, StructTarget } from './struct.js';
export { makeViews, type ArenaViews } from './views.js';
export { drillArena } from './drill.js';
