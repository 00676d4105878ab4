// @meshota/core: the host side of a meshota update.
export * from "./errors.js";
export * from "./transport.js";
export { sha256, toHex } from "./hash.js";
export { CHIPS, ChipId, chipById, formatChipRevision, type ChipInfo } from "./image/chips.js";
export {
  APP_DESC_MAGIC,
  APP_DESC_OFFSET,
  IMAGE_HEADER_MAGIC,
  MAX_SEGMENTS,
  readHeader,
  readImage,
  type AppDescription,
  type EspImage,
  type ImageHeader,
  type ImageSegment,
  type SignatureSector,
} from "./image/reader.js";
export { buildBootloaderImage, buildImage, buildPartitionTable, type FixtureOptions } from "./image/fixture.js";
export {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateSigningKey,
  importPrivateKeyPem,
  importPublicKeyPem,
  importPublicKeyRaw,
  manifestFromImage,
  PUBLIC_KEY_SIZE,
  publicKeyHeader,
  publicKeyOf,
  publicKeyRaw,
  signImage,
  signManifest,
  verifyManifest,
  type SignedManifest,
} from "./signing.js";
