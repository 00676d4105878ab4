// @meshota/transport-tcp: meshota side channels over TCP.
export { FetchError, StreamFramingError, type FetchFailure, type StreamFramingDefect } from "./errors.js";
export {
  encodeStreamFrame,
  STREAM_FRAME_MAX_PAYLOAD,
  STREAM_FRAME_OVERHEAD,
  StreamFrameDecoder,
  streamCrc32,
} from "./stream-framing.js";
export {
  FirmwareServer,
  generateToken,
  TCP_MAX_CHUNK_SIZE,
  TCP_TOKEN_MAX,
  type FirmwareServerEvent,
  type FirmwareServerOptions,
  type FirmwareServerStats,
  type FirmwareSession,
} from "./firmware-server.js";
export { fetchImage, type FetchImageOptions, type FetchImageResult } from "./fetch-client.js";
export { ImageHttpServer, type ImageHttpEvent, type ImageHttpServerOptions } from "./image-http-server.js";
export { parseRange, type RangeAnswer } from "./range.js";
export {
  certificateSha256,
  generateSelfSignedCertificate,
  type CertificateOptions,
  type SelfSignedCertificate,
} from "./certificate.js";
export {
  CONTROL_ENVELOPE_HEADER,
  CONTROL_ENVELOPE_MAX,
  createControlLinkServer,
  decodeControlEnvelope,
  encodeControlEnvelope,
  TcpControlTransport,
  type ControlEnvelope,
  type TcpControlOptions,
  type TcpControlStats,
} from "./control-link.js";
