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
export { GATEWAY_MAX_IN_FLIGHT, TcpControlTransport, type GatewayHello, type TcpControlOptions, type TcpControlStats } from "./control-link.js";
export {
  decodeGatewayMessage,
  encodeGatewayMessage,
  GATEWAY_DEFAULT_TTL,
  GATEWAY_LINK_HEADER,
  GATEWAY_LINK_MAX_PAYLOAD,
  GATEWAY_LINK_VERSION,
  GatewayLinkStatus,
  GatewayLinkType,
  type GatewayLinkMessage,
} from "./gateway-link.js";
export { createGatewayServer, GatewayEndpoint, type GatewayEndpointOptions, type GatewaySend } from "./gateway-endpoint.js";
