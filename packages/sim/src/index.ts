// @meshota/sim: a discrete-event simulator of meshota networks in virtual time.
export { Scheduler, type EventHandle, type SchedulerOptions, type SimClock } from "./scheduler.js";
export { SimRandom } from "./random.js";
export {
  MESH_ACCESS_MAX,
  MESH_ALL_NODES,
  MESH_DEFAULTS,
  MESH_MAX_SEGMENTS,
  MESH_SEGMENT_SIZE,
  MESH_TRANSMIC,
  MESH_UNSEGMENTED_MAX,
  MESH_VENDOR_OPCODE_SIZE,
  MeshMedium,
  segmentsFor,
  type MeshDelivery,
  type MeshOptions,
  type MeshStats,
  type StationOptions,
} from "./mesh.js";
export { IP_DEFAULTS, IpMedium, type ClientConnection, type ClientSink, type IpOptions, type IpStats, type ServerConnection, type SimHttpServer, type SimTcpServer } from "./ip.js";
export { ESPNOW_DEFAULTS, EspNowMedium, type EspNowOptions, type EspNowStats } from "./espnow.js";
export { SimFirmwareServer, type SimFirmwareServerStats } from "./firmware-server.js";
export { buildTopology, type Topology, type TopologyKind } from "./topology.js";
export type { NodeCluster, NodeEvent, NodeInput, NodeOutput, NodeSpec, NodeStatus } from "./node.js";
export { Simulation, SIMULATION_DEFAULTS, type PhaseChange, type SimulationOptions } from "./simulation.js";
export { macString } from "./bytes.js";
export { PHASE_STYLE, RELAY_COLOR, renderTimelineSvg, type TimelineOptions, type TimelineRow } from "./timeline.js";
export { EmulatorCluster } from "./emulator-cluster.js";
export {
  assignRoles,
  prepareImage,
  Scenario,
  type CampaignOutcome,
  type CampaignPlan,
  type NodeOutcome,
  type NodeRole,
  type ScenarioOptions,
} from "./scenario.js";
