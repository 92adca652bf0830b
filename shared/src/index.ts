// Public surface of the security core. Each module adds its own `export *` line.
export * from './errors.ts';
export * from './utils.ts';
export * from './aes.ts';
export * from './ctx.ts';
export * from './cmac.ts';
export * from './kdf.ts';
export * from './ccm.ts';
export * from './policy.ts';
export * from './frame.ts';
export * from './counter.ts';
export * from './replay.ts';
export * from './keys.ts';
export * from './seal.ts';
export * from './crc16.ts';
export * from './cobs.ts';
export * from './serial.ts';
export * from './cbor.ts';
