// @meshota/transport-ble: the meshota control plane over Bluetooth Mesh, through a GATT proxy.
export { MeshotaBleTransport, connectMeshota, type ConnectOptions, type MeshotaBleTransportOptions, type Closable } from "./meshota-transport.js";
export { parseCdb, type CdbGroup, type CdbNode, type CdbProvisioner, type MeshNetworkConfig } from "./cdb.js";
export {
  MeshStack,
  DEFAULT_LIMITS,
  DEFAULT_TIMING,
  type AccessKey,
  type AccessReceived,
  type AccessSend,
  type MeshLimits,
  type MeshStackOptions,
  type MeshStackStats,
  type MeshTimingOptions,
} from "./mesh-stack.js";
export { ProxyClient, type ProxyClientOptions, type ProxyClientStats } from "./proxy-client.js";
export type { GattBearer } from "./bearer.js";
export {
  WebBluetoothBearer,
  requestWebBluetoothProxy,
  type WebBluetooth,
  type WebBluetoothBearerOptions,
  type WebGattCharacteristic,
  type WebGattDevice,
  type WebGattServer,
  type WebGattService,
} from "./web-bluetooth.js";
export { MemorySequenceStore, SequenceAllocator, SEQ_MAX, type SequenceAllocatorOptions, type SequenceRecord, type SequenceStore } from "./sequence.js";
export { RateLimiter, DEFAULT_RATE_LIMIT, type RateLimitOptions } from "./rate-limit.js";
export { BearerError, CdbError, MeshotaBleError, SequenceError } from "./errors.js";
export { deriveApplicationKey, deriveFriendshipKey, deriveNetworkKey, type ApplicationKey, type NetworkKey } from "./keys.js";
export { aesCmac, ccmDecrypt, ccmEncrypt, k1, k2, k3, k4, s1, virtualAddressOf, type K2Result } from "./crypto.js";
export {
  decodeNetworkPdu,
  encodeNetworkPdu,
  networkNonce,
  relayNetworkPdu,
  NETWORK_PDU_MAX,
  NETWORK_PDU_MIN,
  type NetworkHeader,
  type NetworkMessage,
  type NonceKind,
} from "./network-pdu.js";
export { decodeLowerPdu, encodeLowerPdu, segmentAccess, seqAuthFrom, type LowerPdu } from "./lower-pdu.js";
export { accessNonce, decryptAccess, encryptAccess, type AccessNonceFields } from "./upper-transport.js";
export { decodeAccessPayload, encodeAccessPayload, encodeOpcode, ACCESS_PAYLOAD_MAX, type AccessOpcode } from "./access.js";
export { decodeSecureNetworkBeacon, encodeSecureNetworkBeacon, type SecureNetworkBeacon } from "./beacon.js";
export {
  decodeFilterStatus,
  filterAddressesMessage,
  segmentProxyPdu,
  setFilterTypeMessage,
  ProxyReassembler,
  ProxyConfigOpcode,
  ProxyFilterType,
  ProxyPduType,
  DEFAULT_PROXY_WRITE_SIZE,
  MESH_PROXY_DATA_IN,
  MESH_PROXY_DATA_OUT,
  MESH_PROXY_SERVICE,
  PROXY_PDU_MAX,
  type FilterStatus,
  type ProxyPdu,
} from "./proxy-pdu.js";
export { ALL_FRIENDS, ALL_NODES, ALL_PROXIES, ALL_RELAYS, UNASSIGNED_ADDRESS, isGroup, isUnicast, isVirtual } from "./address.js";
