// A TypeScript model of the node's update state machine, for unit tests of the distributor.
// It answers the same control messages with the same phases and error codes as the firmware
// core: signature and capability checks before the first byte, idempotent UpdateStart, chunk
// bookkeeping that survives a reboot, verify, apply, reboot into the new image, confirm or
// roll back. Faults are injected per node.
import {
  create,
  decodeVendor,
  encodeFrame,
  encodeVendorInit,
  ErrorCode,
  Method,
  Opcode,
  Phase,
  RelayPhase,
  type DataFrame,
  type Manifest,
  type UpdateStart,
  type VendorFrame,
  DataFrameSchema,
} from "@meshota/proto";
import type { Clock } from "../clock.js";
import { bytesEqual, sha256 } from "../hash.js";
import { readImage } from "../image/reader.js";
import type { MemoryAttachment, MemoryNetwork } from "../memory-transport.js";
import { verifyManifest } from "../signing.js";
import type { IncomingMessage, MeshAddress } from "../transport.js";

/** The firmware a fake node runs. */
export interface FakeFirmware {
  projectName: string;
  version: string;
  secureVersion: number;
  idfVersion: string;
}

/** Faults a fake node can be told to produce. */
export interface FakeNodeFaults {
  /** Refuse every UpdateStart with this code (after the real checks pass). */
  start?: ErrorCode;
  /** Fail the session with `code` once `atBytes` bytes are held. */
  transfer?: { code: ErrorCode; atBytes: number };
  /** Refuse UpdateApply with this code. */
  apply?: ErrorCode;
  /** The new image fails its self-test after reboot: the node rolls back. */
  selfTestFails?: boolean;
  /** After reboot the node still runs the old version (a broken bootloader switch). */
  bootsOldImage?: boolean;
  /** Lose this many of the node's next replies. */
  dropReplies?: number;
  /** Refuse RelayStart with this code. */
  relay?: ErrorCode;
  /** Report this many bytes more than held in UpdateStatus (a node that counts a resent body twice). */
  overcountBytes?: number;
}

/** How a fake node is built. Everything but the public key has a default. */
export interface FakeNodeOptions {
  /** Key the node verifies manifests with. */
  publicKey: CryptoKey;
  firmware: FakeFirmware;
  chipId: number;
  chipRevision: number;
  otaPartitionSize: number;
  methods: Method[];
  maxChunkSize: number;
  wifiMac: Uint8Array;
  /** With rollback the new image boots as pending-confirm; without, it is confirmed at once. */
  rollback: boolean;
  /** Time a restart takes, in ms (default 3000). */
  rebootMs: number;
  /** Side channels (Wi-Fi, TCP): returns the image the method points at, or an error code. */
  sideChannel: (method: UpdateStart["method"]) => Uint8Array | ErrorCode;
  /** Bytes a side channel or relay delivers per 100 ms (default 16 KiB). */
  sideChannelRate: number;
  faults: FakeNodeFaults;
  /** Report missing chunks as ranges instead of a bitmap window (default false). */
  missingAsRanges: boolean;
}

interface Session {
  id: number;
  manifest: Manifest;
  start: UpdateStart;
  method: UpdateStart["method"];
  phase: Phase;
  error: ErrorCode;
  chunkSize: number;
  held: Uint8Array;
  heldCount: number;
  chunkCount: number;
  image: Uint8Array;
  bytesDone: number;
  credentials: { ssid: string; password: string } | undefined;
  /** Image source of a side channel or relay, once it runs. */
  feeding: boolean;
}

const TERMINAL = new Set([Phase.NONE, Phase.FAILED, Phase.CANCELLED, Phase.CONFIRMED, Phase.ROLLED_BACK]);

let macSeed = 1;

/** A fake node attached to a memory mesh. */
export class FakeNode {
  readonly address: MeshAddress;
  readonly options: FakeNodeOptions;
  firmware: FakeFirmware;
  /** Messages received, by opcode name, for assertions. */
  readonly received: { opcode: number; dst: MeshAddress }[] = [];
  /** Credentials the node was given (tests check they arrived, never print them). */
  lastCredentials: { ssid: string; password: string } | undefined;
  #session: Session | undefined;
  #relay = { phase: RelayPhase.NONE, done: 0, failed: 0, error: ErrorCode.NONE };
  #link: MemoryAttachment;
  #queue: Promise<void> = Promise.resolve();
  #rebooting = false;

  constructor(
    readonly network: MemoryNetwork,
    readonly fleet: FakeFleet,
    address: MeshAddress,
    options: Partial<FakeNodeOptions> & { publicKey: CryptoKey }
  ) {
    this.address = address;
    const mac = new Uint8Array([0x24, 0x6f, 0x28, 0, (macSeed >> 8) & 0xff, macSeed++ & 0xff]);
    this.options = {
      firmware: { projectName: "meshota-demo", version: "1.0.0", secureVersion: 0, idfVersion: "v5.3.1" },
      chipId: 5,
      chipRevision: 4,
      otaPartitionSize: 0x1e0000,
      methods: [Method.MESH, Method.TCP, Method.WIFI, Method.ESPNOW],
      maxChunkSize: 1440,
      wifiMac: mac,
      rollback: true,
      rebootMs: 3000,
      sideChannel: () => ErrorCode.NETWORK,
      sideChannelRate: 16 * 1024,
      faults: {},
      missingAsRanges: false,
      ...options,
    };
    this.firmware = { ...this.options.firmware };
    this.#link = network.attach(address, (m) => this.#enqueue(m));
  }

  get clock(): Clock {
    return this.network.options.clock;
  }

  /** Phase of the current session (PHASE_NONE without one). */
  get phase(): Phase {
    return this.#session?.phase ?? Phase.NONE;
  }

  get error(): ErrorCode {
    return this.#session?.error ?? ErrorCode.NONE;
  }

  get bytesDone(): number {
    return this.#session?.bytesDone ?? 0;
  }

  get sessionId(): number {
    return this.#session?.id ?? 0;
  }

  /** Indices of chunks held, in order. */
  heldChunks(): number[] {
    const s = this.#session;
    if (!s) return [];
    const out: number[] = [];
    for (let i = 0; i < s.chunkCount; i++) if (s.held[i]) out.push(i);
    return out;
  }

  /** Cuts power: the node goes silent; persisted session state stays (as in flash). */
  powerOff(): void {
    this.network.setOnline(this.address, false);
  }

  powerOn(): void {
    this.network.setOnline(this.address, true);
  }

  /** Lets a virtual clock wait for the node's real asynchronous work (Web Crypto). */
  #track<T>(work: Promise<T>): Promise<T> {
    const clock = this.clock as Clock & { track?: <U>(p: Promise<U>) => Promise<U> };
    return clock.track ? clock.track(work) : work;
  }

  #enqueue(message: IncomingMessage): void {
    this.#queue = this.#track(
      this.#queue
        .then(() => this.#handle(message))
        .catch((e: unknown) => {
          // A fake node must never die silently: keep the failure visible to the test.
          console.error("fake node", this.address, e);
        })
    );
  }

  #reply(dst: MeshAddress, frame: VendorFrame): void {
    const f = this.options.faults;
    if (f.dropReplies && f.dropReplies > 0) {
      f.dropReplies--;
      return;
    }
    this.#link.send(dst, frame);
  }

  #status(dst: MeshAddress, error?: ErrorCode): void {
    const s = this.#session;
    const size = s?.manifest.imageSize ?? 0;
    const bytesDone = s && s.bytesDone > 0 ? s.bytesDone + (this.options.faults.overcountBytes ?? 0) : 0;
    this.#reply(
      dst,
      encodeVendorInit("UpdateStatus", {
        phase: s?.phase ?? Phase.NONE,
        error: error ?? s?.error ?? ErrorCode.NONE,
        bytesDone,
        percent: size ? Math.floor((bytesDone * 100) / size) : 0,
      })
    );
  }

  async #handle(m: IncomingMessage): Promise<void> {
    if (this.#rebooting) return;
    this.received.push({ opcode: m.frame.opcode, dst: m.dst });
    let msg;
    try {
      msg = decodeVendor(m.frame);
    } catch {
      this.#status(m.src, ErrorCode.MALFORMED);
      return;
    }
    const s = this.#session;
    switch (msg.$typeName) {
      case "meshota.v1.InfoGet":
        this.#reply(
          m.src,
          encodeVendorInit("InfoStatus", {
            projectName: this.firmware.projectName,
            version: this.firmware.version,
            secureVersion: this.firmware.secureVersion,
            chipId: this.options.chipId,
            chipRevision: this.options.chipRevision,
            otaPartitionSize: this.options.otaPartitionSize,
            methods: this.options.methods,
            maxChunkSize: this.options.maxChunkSize,
            wifiMac: this.options.wifiMac,
            phase: this.phase,
            canRelay: this.#holdsImage(),
            idfVersion: this.firmware.idfVersion,
          })
        );
        return;
      case "meshota.v1.CredentialsSet":
        this.lastCredentials = { ssid: msg.ssid, password: msg.password };
        if (s && s.id === msg.sessionId) s.credentials = this.lastCredentials;
        this.#status(m.src);
        return;
      case "meshota.v1.UpdateStart":
        await this.#start(m.src, msg);
        return;
      case "meshota.v1.UpdateGet":
        this.#status(m.src);
        return;
      case "meshota.v1.UpdateCancel":
        if (!s || s.phase === Phase.NONE) return this.#status(m.src, ErrorCode.WRONG_STATE);
        if (msg.sessionId !== 0 && msg.sessionId !== s.id) return this.#status(m.src, ErrorCode.SESSION_MISMATCH);
        if (s.phase === Phase.APPLYING || s.phase === Phase.CONFIRMED || s.phase === Phase.ROLLED_BACK) {
          return this.#status(m.src, ErrorCode.WRONG_STATE);
        }
        if (s.phase === Phase.PENDING_CONFIRM) {
          this.#rollBack(s);
          s.error = ErrorCode.CANCELLED;
          return this.#status(m.src, ErrorCode.NONE);
        }
        s.phase = Phase.CANCELLED;
        s.error = ErrorCode.CANCELLED;
        this.#status(m.src);
        return;
      case "meshota.v1.UpdateApply":
        if (!s || s.id !== msg.sessionId) return this.#status(m.src, ErrorCode.SESSION_MISMATCH);
        if (s.phase === Phase.APPLYING || s.phase === Phase.PENDING_CONFIRM || s.phase === Phase.CONFIRMED) {
          return this.#status(m.src); // a repeated apply
        }
        if (s.phase !== Phase.VERIFIED) return this.#status(m.src, ErrorCode.WRONG_STATE);
        if (this.options.faults.apply) {
          s.phase = Phase.FAILED;
          s.error = this.options.faults.apply;
          return this.#status(m.src);
        }
        s.phase = Phase.APPLYING;
        this.#status(m.src);
        void this.#reboot(s);
        return;
      case "meshota.v1.UpdateConfirm":
        if (!s || s.id !== msg.sessionId) return this.#status(m.src, ErrorCode.SESSION_MISMATCH);
        if (s.phase === Phase.PENDING_CONFIRM) s.phase = Phase.CONFIRMED;
        else if (s.phase !== Phase.CONFIRMED) return this.#status(m.src, ErrorCode.WRONG_STATE);
        this.#status(m.src);
        return;
      case "meshota.v1.RelayStart":
        this.#relayStart(m.src, msg.sessionId, msg.targets, msg.method);
        return;
      case "meshota.v1.RelayGet":
        this.#relayStatus(m.src);
        return;
      case "meshota.v1.DataFrame":
        this.#data(m.src, msg);
        return;
      default:
        this.#status(m.src, ErrorCode.MALFORMED);
    }
  }

  #holdsImage(): boolean {
    const s = this.#session;
    return !!s && (s.phase === Phase.VERIFIED || s.phase === Phase.CONFIRMED || s.phase === Phase.PENDING_CONFIRM);
  }

  async #start(src: MeshAddress, start: UpdateStart): Promise<void> {
    const s = this.#session;
    const manifest = start.manifest;
    if (s && s.id === start.sessionId && !TERMINAL.has(s.phase)) return this.#status(src); // idempotent
    if (s && !TERMINAL.has(s.phase)) return this.#status(src, ErrorCode.BUSY);
    const fail = (error: ErrorCode) => {
      // A refusal leaves whatever session the node held untouched.
      this.#reply(src, encodeVendorInit("UpdateStatus", { phase: Phase.FAILED, error }));
    };
    if (!manifest || start.sessionId === 0 || start.method.case === undefined) return fail(ErrorCode.MALFORMED);
    const method = { wifi: Method.WIFI, tcp: Method.TCP, espnow: Method.ESPNOW, mesh: Method.MESH }[start.method.case];
    if (!this.options.methods.includes(method)) return fail(ErrorCode.UNSUPPORTED_METHOD);
    if (!(await verifyManifest(manifest, start.signature, this.options.publicKey)))
      return fail(ErrorCode.BAD_SIGNATURE);
    if (manifest.chipId !== this.options.chipId) return fail(ErrorCode.WRONG_CHIP);
    const rev = this.options.chipRevision;
    const max = manifest.maxChipRev;
    if (rev < manifest.minChipRev || (max !== 0 && max !== 0xffff && rev > max)) return fail(ErrorCode.CHIP_REVISION);
    if (manifest.imageSize > this.options.otaPartitionSize) return fail(ErrorCode.IMAGE_TOO_LARGE);
    if (manifest.secureVersion < this.firmware.secureVersion) return fail(ErrorCode.DOWNGRADE);
    if (manifest.version === this.firmware.version && !start.allowSameVersion) return fail(ErrorCode.SAME_VERSION);
    if (manifest.projectName !== this.firmware.projectName && !start.allowOtherProject)
      return fail(ErrorCode.PROJECT_MISMATCH);
    if (this.options.faults.start) return fail(this.options.faults.start);
    const chunkSize =
      start.method.case === "mesh"
        ? start.method.value.chunkSize
        : start.method.case === "espnow"
        ? start.method.value.payloadSize
        : this.options.maxChunkSize;
    if (chunkSize === 0 || chunkSize > this.options.maxChunkSize) return fail(ErrorCode.CHUNK_TOO_LARGE);
    const chunkCount = Math.ceil(manifest.imageSize / chunkSize);
    this.#session = {
      id: start.sessionId,
      manifest,
      start,
      method: start.method,
      phase: Phase.STARTING,
      error: ErrorCode.NONE,
      chunkSize,
      held: new Uint8Array(chunkCount),
      heldCount: 0,
      chunkCount,
      image: new Uint8Array(manifest.imageSize),
      bytesDone: 0,
      credentials: this.lastCredentials,
      feeding: false,
    };
    this.#status(src);
    if (start.method.case === "wifi" || start.method.case === "tcp") void this.#feedFromSideChannel(this.#session);
    if (start.method.case === "espnow") {
      // A host-side ESP-NOW distributor (not a relay node of the fleet) is modelled by the
      // side channel; without one the node waits for a relay.
      const source = this.options.sideChannel(start.method);
      if (typeof source !== "number") void this.#feed(this.#session, source);
    }
  }

  async #feedFromSideChannel(s: Session): Promise<void> {
    if (s.method.case === "wifi" && !s.credentials) {
      s.phase = Phase.FAILED;
      s.error = ErrorCode.NETWORK;
      return;
    }
    const source = this.options.sideChannel(s.method);
    if (typeof source === "number") {
      s.phase = Phase.FAILED;
      s.error = source;
      return;
    }
    await this.#feed(s, source);
  }

  /** Writes `source` into the session's missing chunks at sideChannelRate. */
  async #feed(s: Session, source: Uint8Array): Promise<void> {
    if (s.feeding) return;
    s.feeding = true;
    try {
      while (this.#session === s && (s.phase === Phase.STARTING || s.phase === Phase.RECEIVING)) {
        await this.clock.sleep(100);
        if (!this.network.isOnline(this.address) || this.#session !== s) continue;
        let budget = this.options.sideChannelRate;
        for (let i = 0; i < s.chunkCount && budget > 0; i++) {
          if (s.held[i]) continue;
          const data = source.subarray(i * s.chunkSize, Math.min(source.length, (i + 1) * s.chunkSize));
          budget -= data.length;
          await this.#track(this.#store(s, i, data));
          if (s.phase !== Phase.RECEIVING) break;
        }
      }
    } finally {
      s.feeding = false;
    }
  }

  async #store(s: Session, index: number, data: Uint8Array): Promise<void> {
    if (s.held[index]) return;
    s.image.set(data, index * s.chunkSize);
    s.held[index] = 1;
    s.heldCount++;
    s.bytesDone += data.length;
    if (s.phase === Phase.STARTING) s.phase = Phase.RECEIVING;
    const t = this.options.faults.transfer;
    if (t && s.bytesDone >= t.atBytes) {
      s.phase = Phase.FAILED;
      s.error = t.code;
      return;
    }
    if (s.heldCount === s.chunkCount) await this.#verify(s);
  }

  async #verify(s: Session): Promise<void> {
    s.phase = Phase.VERIFYING;
    const digest = await sha256(s.image);
    if (!bytesEqual(digest, s.manifest.imageSha256)) {
      s.phase = Phase.FAILED;
      s.error = ErrorCode.HASH_MISMATCH;
      return;
    }
    try {
      const image = await readImage(s.image);
      const m = s.manifest;
      const d = image.appDesc;
      if (
        image.header.chipId !== m.chipId ||
        d.version !== m.version ||
        d.projectName !== m.projectName ||
        d.secureVersion !== m.secureVersion
      ) {
        s.phase = Phase.FAILED;
        s.error = ErrorCode.MANIFEST_MISMATCH;
        return;
      }
    } catch {
      s.phase = Phase.FAILED;
      s.error = ErrorCode.BAD_IMAGE;
      return;
    }
    s.phase = Phase.VERIFIED;
  }

  async #reboot(s: Session): Promise<void> {
    this.#rebooting = true;
    this.powerOff();
    await this.clock.sleep(this.options.rebootMs);
    const f = this.options.faults;
    if (f.selfTestFails) {
      this.#rollBack(s);
    } else {
      if (!f.bootsOldImage) {
        this.firmware = {
          projectName: s.manifest.projectName,
          version: s.manifest.version,
          secureVersion: s.manifest.secureVersion,
          idfVersion: this.firmware.idfVersion,
        };
      }
      s.phase = this.options.rollback ? Phase.PENDING_CONFIRM : Phase.CONFIRMED;
    }
    this.#rebooting = false;
    this.powerOn();
  }

  #rollBack(s: Session): void {
    s.phase = Phase.ROLLED_BACK;
    s.error = ErrorCode.ROLLED_BACK;
    this.firmware = { ...this.options.firmware };
  }

  #data(src: MeshAddress, frame: DataFrame): void {
    const s = this.#session;
    const body = frame.body;
    const sessionOf = body.case ? body.value.sessionId : 0;
    if (!s || s.phase === Phase.NONE) return this.#status(src, ErrorCode.WRONG_STATE);
    if (s.method.case !== "mesh") return this.#status(src, ErrorCode.UNSUPPORTED_METHOD);
    if (sessionOf !== s.id) return this.#status(src, ErrorCode.SESSION_MISMATCH);
    if (body.case === "chunk") {
      if (s.phase !== Phase.STARTING && s.phase !== Phase.RECEIVING) {
        if (!s.held[body.value.index]) this.#status(src, ErrorCode.WRONG_STATE);
        return;
      }
      const { index, data } = body.value;
      if (index >= s.chunkCount) return this.#status(src, ErrorCode.CHUNK_OUT_OF_RANGE);
      if (data.length > s.chunkSize) return this.#status(src, ErrorCode.CHUNK_TOO_LARGE);
      const expected = index === s.chunkCount - 1 ? s.manifest.imageSize - index * s.chunkSize : s.chunkSize;
      if (data.length !== expected) return this.#status(src, ErrorCode.MALFORMED);
      void this.#track(this.#store(s, index, data));
      return;
    }
    if (body.case === "info") {
      const ti = body.value;
      if (ti.imageSize !== s.manifest.imageSize || ti.chunkSize !== s.chunkSize || ti.chunkCount !== s.chunkCount) {
        this.#status(src, ErrorCode.MALFORMED);
        return;
      }
      // Round 0 only fixes the geometry; later rounds ask for a report.
      if (ti.round === 0) return;
      if (s.phase === Phase.FAILED || s.phase === Phase.CANCELLED) {
        this.#reply(src, vendorFrame({ body: { case: "done", value: { sessionId: s.id, error: s.error } } }));
      } else if (s.heldCount === s.chunkCount) {
        this.#reply(src, vendorFrame({ body: { case: "done", value: { sessionId: s.id, error: ErrorCode.NONE } } }));
      } else {
        this.#reply(
          src,
          vendorFrame({ body: { case: "missing", value: missingReport(s, this.options.missingAsRanges) } })
        );
      }
    }
  }

  #relayStart(src: MeshAddress, sessionId: number, targets: number[], method: { case: string | undefined }): void {
    const s = this.#session;
    const refuse = (error: ErrorCode) => {
      this.#relay = { phase: RelayPhase.FAILED, done: 0, failed: 0, error };
      this.#relayStatus(src);
    };
    if (this.options.faults.relay) return refuse(this.options.faults.relay);
    if (!s || !this.#holdsImage() || s.id !== sessionId) return refuse(ErrorCode.NO_IMAGE);
    if (method.case !== "espnow" && method.case !== "tcp") return refuse(ErrorCode.UNSUPPORTED_METHOD);
    this.#relay = { phase: RelayPhase.RUNNING, done: 0, failed: 0, error: ErrorCode.NONE };
    this.#relayStatus(src);
    void this.#serve(s, targets);
  }

  async #serve(s: Session, targets: number[]): Promise<void> {
    const image = s.image;
    const results = await Promise.all(
      targets.map(async (address) => {
        const node = this.fleet.node(address);
        if (!node) return false;
        return node.receiveRelayed(this.options.wifiMac, s.id, image);
      })
    );
    this.#relay.done = results.filter(Boolean).length;
    this.#relay.failed = results.length - this.#relay.done;
    this.#relay.phase = RelayPhase.DONE;
  }

  /** Called by a relaying fake node: the ESP-NOW data plane, modelled as a byte stream. */
  async receiveRelayed(fromMac: Uint8Array, sessionId: number, image: Uint8Array): Promise<boolean> {
    const s = this.#session;
    if (!s || s.id !== sessionId || s.method.case !== "espnow") return false;
    if (!bytesEqual(s.method.value.distributorMac, fromMac)) {
      s.phase = Phase.FAILED;
      s.error = ErrorCode.WRONG_CHANNEL;
      return false;
    }
    await this.#feed(s, image);
    return this.#holdsImage();
  }

  #relayStatus(src: MeshAddress): void {
    const r = this.#relay;
    this.#reply(
      src,
      encodeVendorInit("RelayStatus", { phase: r.phase, targetsDone: r.done, targetsFailed: r.failed, error: r.error })
    );
  }
}

function vendorFrame(init: Parameters<typeof encodeFrame>[0]): VendorFrame {
  return { opcode: Opcode.DataFrame, params: encodeFrame(create(DataFrameSchema, init as never)) };
}

/** The node's missing-chunk report: a bitmap window from the first missing chunk. */
function missingReport(s: Session, asRanges = false) {
  let first = -1;
  for (let i = 0; i < s.chunkCount; i++) {
    if (!s.held[i]) {
      first = i;
      break;
    }
  }
  const missingTotal = s.chunkCount - s.heldCount;
  if (first < 0) return { sessionId: s.id, baseIndex: 0, bitmap: new Uint8Array(0), ranges: [], missingTotal: 0 };
  if (asRanges) {
    const ranges: { first: number; count: number }[] = [];
    for (let i = first; i < s.chunkCount && ranges.length < 16; ) {
      if (s.held[i]) {
        i++;
        continue;
      }
      const start = i;
      while (i < s.chunkCount && !s.held[i]) i++;
      ranges.push({ first: start, count: i - start });
    }
    return { sessionId: s.id, baseIndex: 0, bitmap: new Uint8Array(0), ranges, missingTotal };
  }
  const span = Math.min(s.chunkCount - first, 200 * 8);
  const bitmap = new Uint8Array(Math.ceil(span / 8));
  for (let i = 0; i < span; i++) if (!s.held[first + i]) bitmap[i >> 3]! |= 1 << (i & 7);
  return { sessionId: s.id, baseIndex: first, bitmap, ranges: [], missingTotal };
}

/** A set of fake nodes on one memory mesh. */
export class FakeFleet {
  readonly #nodes = new Map<MeshAddress, FakeNode>();

  constructor(readonly network: MemoryNetwork, readonly publicKey: CryptoKey) {}

  add(address: MeshAddress, options: Partial<FakeNodeOptions> = {}): FakeNode {
    const node = new FakeNode(this.network, this, address, { publicKey: this.publicKey, ...options });
    this.#nodes.set(address, node);
    return node;
  }

  node(address: MeshAddress): FakeNode | undefined {
    return this.#nodes.get(address);
  }

  get nodes(): FakeNode[] {
    return [...this.#nodes.values()];
  }
}
