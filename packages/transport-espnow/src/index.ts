// @meshota/transport-espnow: ESP-NOW distribution with loss repair, through a UART bridge dongle.
export { BROADCAST_MAC, isBroadcast, macToString, parseMac } from "./mac.js";
export { realTimers, shareLink, type EspNowLink, type SendOutcome, type Timers } from "./link.js";
export { buildMissing, missingIndices, MISSING_BITMAP_MAX, MISSING_RANGES_MAX } from "./missing.js";
export {
  CHUNK_DATA_MAX,
  DEFAULT_DISTRIBUTION_OPTIONS,
  distribute,
  startDistribution,
  espnowChunkSize,
  type DistributionOptions,
  type DistributionResult,
  type RoundProgress,
  type TargetResult,
} from "./distributor.js";
export { BridgeClient, DEFAULT_BRIDGE_OPTIONS, duplexByteStream, openSerialBridge, type BridgeOptions, type BridgeStats, type ByteStream } from "./bridge/client.js";
export { BridgeError, type BridgeFailure } from "./bridge/errors.js";
export { BRIDGE_BODY_MAX, BRIDGE_ENCODED_MAX, cobsDecode, cobsEncode, crc16, Deframer, frameToWire, type DeframerStats } from "./bridge/framing.js";
export { AckStatus, BRIDGE_PROTOCOL_VERSION, MsgType, SentOutcome, type BridgeHello, type DongleFrame } from "./bridge/messages.js";
