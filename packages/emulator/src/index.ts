export {
  Emulator,
  EmulatorCommandError,
  defaultEmulatorPath,
  emulatorAvailable,
  type EmulatorOptions,
  type EspNowRadio,
  type NodeOptions,
  type NodeStatus,
} from "./emulator.js";
export {
  EmulatorFrameReader,
  FrameKind,
  MAX_PAYLOAD,
  decodeEspNowBegin,
  decodeStreamOpen,
  encodeEmulatorFrame,
  type EmulatorFrame,
} from "./frames.js";
