// @meshota/proto: the meshota wire protocol for TypeScript.
export * from "./gen/meshota/v1/common_pb.js";
export * from "./gen/meshota/v1/control_pb.js";
export * from "./gen/meshota/v1/data_pb.js";
export {
  ESPRESSIF_COMPANY_ID,
  FIELD_BOUNDS,
  MAX_ENCODED_SIZE,
  Opcode,
  SEGMENTED_ACCESS_PAYLOAD,
  UNSEGMENTED_ACCESS_PAYLOAD,
  VENDOR_MESSAGES,
  VENDOR_OPCODE_SIZE,
} from "./gen/meshota_table.js";
export {
  FieldBoundError,
  MalformedMessageError,
  MessageTooLargeError,
  MeshotaProtoError,
  UnknownOpcodeError,
} from "./errors.js";
export { checkBounds, decodeStrict, encodeStrict } from "./strict.js";
export {
  decodeVendor,
  encodeVendor,
  encodeVendorInit,
  fitsUnsegmented,
  fromAccessPayload,
  SEGMENTED_PARAMS_MAX,
  toAccessPayload,
  UNSEGMENTED_PARAMS_MAX,
  vendorEntry,
  type VendorFrame,
  type VendorMessage,
  type VendorMessageName,
} from "./vendor.js";
export { BEARER_FRAME_MAX, CHUNK_FRAME_OVERHEAD, chunkSizeFor, decodeFrame, encodeFrame } from "./frames.js";
export { MANIFEST_SIGNING_MAGIC, MANIFEST_SIGNING_SIZE, manifestSigningBytes, SIGNATURE_SIZE } from "./manifest.js";
export { create, fromJson, toJson, equals, clone } from "@bufbuild/protobuf";
