// @meshota/transport-ble/node: what only runs in Node (file storage, BLE through noble).
export { JsonFileSequenceStore } from "./file-sequence-store.js";
export {
  NobleBearer,
  openNobleBearer,
  type NobleBearerOptions,
  type NobleCharacteristic,
  type NobleLike,
  type NoblePeripheral,
} from "./noble-bearer.js";
