// @meshota/transport-ble/test: an in-memory mesh of simulated nodes and proxies, for tests of
// code that uses the BLE transport.
export {
  MemoryGattBearer,
  MemoryMesh,
  MemoryProxyServerLink,
  SimNode,
  seededRandom,
  type MemoryMeshOptions,
  type SimNodeOptions,
} from "./memory-mesh.js";
