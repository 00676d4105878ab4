// @meshota/transport-espnow/sim: a simulated ESP-NOW medium on virtual time, and a model of the
// node's ESP-NOW receiver, for tests, benchmarks and the network simulator.
export { Scheduler, seededRandom } from "./sim/scheduler.js";
export {
  DEFAULT_MEDIUM_OPTIONS,
  ESPNOW_OPEN_AIR_BPS,
  EspNowMedium,
  SimStation,
  type LinkOptions,
  type MediumOptions,
  type MediumStats,
  type StationOptions,
} from "./sim/medium.js";
export { buildScenario, linkLimitedMs, simMac, testImage, type Scenario, type ScenarioOptions } from "./sim/scenario.js";
export { EmulatorDriver, emulatorMac, type EmulatorDriverStats, type EmulatorLike } from "./sim/emulator-driver.js";
export { DEFAULT_RECEIVER_OPTIONS, EspNowReceiver, type ReceiverOptions, type ReceiverSession, type ReceiverState } from "./receiver.js";
