// Shared setup of the distributor tests: a virtual clock, a memory mesh, fake nodes, an image
// signed with a key the nodes trust.
import { Campaign, type CampaignOptions } from "../src/campaign.js";
import { VirtualClock } from "../src/clock.js";
import { buildImage, type FixtureOptions } from "../src/image/fixture.js";
import { readImage, type EspImage } from "../src/image/reader.js";
import { MemoryNetwork, type MemoryNetworkOptions } from "../src/memory-transport.js";
import { generateSigningKey, signImage, type SignedManifest } from "../src/signing.js";
import { FakeFleet, type FakeNodeOptions } from "../src/testing/fake-node.js";
import type { MeshAddress } from "../src/transport.js";

let keys: Promise<CryptoKeyPair> | undefined;
/** One key pair for the whole test file (generation is the slow part). */
export function testKeys(): Promise<CryptoKeyPair> {
  return (keys ??= generateSigningKey());
}

export interface Harness {
  clock: VirtualClock;
  network: MemoryNetwork;
  fleet: FakeFleet;
  image: EspImage;
  signed: SignedManifest;
  keys: CryptoKeyPair;
  addresses: MeshAddress[];
  campaign(options?: Partial<CampaignOptions>): Campaign;
}

export async function setup(
  options: {
    nodes?: number | MeshAddress[];
    image?: Partial<FixtureOptions>;
    network?: Partial<MemoryNetworkOptions>;
    node?: (address: MeshAddress, index: number) => Partial<FakeNodeOptions>;
  } = {}
): Promise<Harness> {
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock, ...options.network });
  const k = await testKeys();
  const fleet = new FakeFleet(network, k.publicKey);
  const addresses = Array.isArray(options.nodes)
    ? options.nodes
    : Array.from({ length: options.nodes ?? 1 }, (_, i) => 0x0100 + i);
  addresses.forEach((a, i) => fleet.add(a, options.node?.(a, i) ?? {}));
  const image = await readImage(await buildImage({ version: "2.0.0", size: 16 * 1024, ...options.image }));
  const signed = await signImage(image, k.privateKey);
  const transport = network.transport();
  return {
    clock,
    network,
    fleet,
    image,
    signed,
    keys: k,
    addresses,
    campaign: (o = {}) => new Campaign({ transport, image, signed, clock, targets: addresses, ...o }),
  };
}
