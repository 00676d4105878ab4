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
export { realClock, VirtualClock, type Clock } from "./clock.js";
export { IncomingQueues } from "./incoming.js";
export {
  MemoryNetwork,
  MemoryTransport,
  type MemoryAttachment,
  type MemoryNetworkOptions,
  type MemoryPacket,
} from "./memory-transport.js";
export { Slots } from "./slots.js";
export { backoffDelay, ControlLink, NoReplyError, type ControlLinkOptions, type RetryOptions } from "./distributor/link.js";
export {
  meshTransfer,
  missingIndices,
  type MeshTransferJob,
  type MeshTransferResult,
} from "./distributor/mesh-transfer.js";
export { planRelays, type RelayPlan, type RelayPlanOptions } from "./distributor/relay-plan.js";
export {
  DISTRIBUTOR_DEFAULTS,
  meshMethod,
  newSessionId,
  newTargetRecord,
  runTarget,
  SUSPEND,
  type DistributorEvent,
  type DistributorOptions,
  type RunContext,
  type RunHooks,
  type TargetRecord,
} from "./distributor/target.js";
export {
  describeErrorCode,
  errorCodeName,
  hostFailure,
  methodName,
  nodeFailure,
  phaseName,
  SETTLED_STATES,
  TargetError,
  TargetOfflineError,
  type ApplyPolicy,
  type MethodProvider,
  type TargetFailure,
  type TargetOutcome,
  type TargetReport,
  type TargetState,
} from "./distributor/types.js";
export {
  Campaign,
  CampaignEventEvent,
  type CampaignEvent,
  type CampaignOptions,
  type CampaignReport,
  type RelayOptions,
} from "./campaign.js";
export { espnowMethod, tcpMethod, wifiMethod, type WifiCredentials } from "./distributor/methods.js";
