// From a bzImage (vmlinuz) to the ELF kernel inside it (vmlinux), which qemu boots through its PVH entry and
// from which bpftool dumps vmlinux.h.
//
// bzImage layout (Documentation/arch/x86/boot.rst), offsets from the file's start:
//   0x1f1  u8   setup_sects     real-mode setup is (setup_sects || 4) + 1 sectors of 512 bytes; the
//                               protected-mode kernel follows it
//   0x202  u32  header          "HdrS"
//   0x206  u16  version         boot protocol; payload_offset/length exist from 2.08
//   0x248  u32  payload_offset  from the protected-mode kernel's start to the compressed payload
//   0x24c  u32  payload_length  bytes of payload; with zstd the last 4 are the decompressed size (le32)
// Debian compresses the payload with zstd (frame magic 28 b5 2f fd).

import { spawn } from 'node:child_process';
import { GuestError } from './errors.js';

export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const SECTOR_BYTES = 512;
const SETUP_SECTS_AT = 0x1f1;
const HEADER_AT = 0x202;
const VERSION_AT = 0x206;
const PAYLOAD_OFFSET_AT = 0x248;
const PAYLOAD_LENGTH_AT = 0x24c;
const PAYLOAD_FIELDS_VERSION = 0x208;
const ZSTD_SIZE_TRAILER_BYTES = 4;

export interface Payload {
  /** Byte offset of the zstd frame in the file. */
  start: number;
  /** Bytes of the zstd frame (without the size trailer when it is known). */
  length: number;
  /** Decompressed size from the trailer, when the header told where the payload ends. */
  expectedSizeBytes?: number;
  how: 'header' | 'scan';
}

/**
 * Where the compressed kernel is: from the boot header when it is there and points at a zstd frame, else the
 * first zstd magic in the file (then up to the end: the decompressor stops at the frame's end).
 */
export function findPayload(image: Buffer): Payload {
  if (
    image.length > PAYLOAD_LENGTH_AT + 4 &&
    image.toString('latin1', HEADER_AT, HEADER_AT + 4) === 'HdrS' &&
    image.readUInt16LE(VERSION_AT) >= PAYLOAD_FIELDS_VERSION
  ) {
    const setupSects = image[SETUP_SECTS_AT] || 4;
    const start = (setupSects + 1) * SECTOR_BYTES + image.readUInt32LE(PAYLOAD_OFFSET_AT);
    const total = image.readUInt32LE(PAYLOAD_LENGTH_AT);
    if (start + total <= image.length && total > ZSTD_SIZE_TRAILER_BYTES && image.subarray(start, start + 4).equals(ZSTD_MAGIC)) {
      const end = start + total - ZSTD_SIZE_TRAILER_BYTES;
      return { start, length: end - start, expectedSizeBytes: image.readUInt32LE(end), how: 'header' };
    }
  }
  const at = image.indexOf(ZSTD_MAGIC);
  if (at < 0) throw new GuestError('the kernel image holds no zstd payload (not a zstd-compressed bzImage)');
  return { start: at, length: image.length - at, how: 'scan' };
}

/** Decompresses the payload with the zstd tool; resolves with the ELF kernel. */
export function decompressPayload(image: Buffer, payload: Payload): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', ['-dcq'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {
      /* zstd stops reading at the frame's end when scanning; the exit status tells */
    });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(new GuestError(err.code === 'ENOENT' ? 'zstd not found: install the zstd package' : `zstd: ${err.message}`)),
    );
    child.once('close', (code) => {
      const out = Buffer.concat(chunks);
      const elf = out.subarray(0, 4).equals(ELF_MAGIC);
      // Scanning to the end of the file feeds zstd the bytes after the frame too: it then complains about
      // them after writing the whole kernel, so an ELF output is what counts.
      if (
        (code === 0 || payload.how === 'scan') &&
        elf &&
        (payload.expectedSizeBytes === undefined || out.length === payload.expectedSizeBytes)
      ) {
        resolve(out);
        return;
      }
      reject(
        new GuestError(
          `cannot decompress the kernel: ${stderr.trim().split('\n').pop() || (elf ? 'size mismatch' : 'output is not an ELF file')}`,
        ),
      );
    });
    child.stdin.end(image.subarray(payload.start, payload.start + payload.length));
  });
}

export async function vmlinuxFromVmlinuz(image: Buffer): Promise<Buffer> {
  return decompressPayload(image, findPayload(image));
}

/** Whether a kernel config enables sched_ext (`CONFIG_SCHED_CLASS_EXT=y`). */
export function configHasSchedExt(config: string): boolean {
  return /^CONFIG_SCHED_CLASS_EXT=y$/m.test(config);
}
