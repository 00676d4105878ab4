// @meshota/transport-espnow: ESP-NOW distribution with loss repair, through a UART bridge dongle.
export { BROADCAST_MAC, isBroadcast, macToString, parseMac } from "./mac.js";
export { realTimers, shareLink, type EspNowLink, type SendOutcome, type Timers } from "./link.js";
export { buildMissing, missingIndices, MISSING_BITMAP_MAX, MISSING_RANGES_MAX } from "./missing.js";
export {
  CHUNK_DATA_MAX,
  distribute,
  startDistribution,
  espnowChunkSize,
  type DistributionOptions,
  type DistributionResult,
  type RoundProgress,
  type TargetResult,
} from "./distributor.js";
