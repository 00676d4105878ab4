// @meshota/core/testing: fakes for tests of code built on @meshota/core. A model of the
// node's update state machine on an in-memory mesh, and a virtual clock.
export {
  FakeFleet,
  FakeNode,
  type FakeFirmware,
  type FakeNodeFaults,
  type FakeNodeOptions,
} from "./testing/fake-node.js";
export { MemoryNetwork, MemoryTransport, type MemoryNetworkOptions, type MemoryPacket } from "./memory-transport.js";
export { VirtualClock } from "./clock.js";
