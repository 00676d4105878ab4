// Chip ids of the ESP32 family as they appear at offset 0x0C of an app image header.
// Source: esp-idf components/bootloader_support/include/esp_app_format.h (esp_chip_id_t);
// C61, H21 and H4 from the same enum in esp-idf v5.4 and later.

/** A chip the image reader knows. */
export interface ChipInfo {
  /** Value of esp_chip_id_t. */
  readonly id: number;
  /** Marketing name, such as "ESP32-C3". */
  readonly name: string;
}

/** Every chip id the reader accepts, by id. */
export const CHIPS: ReadonlyMap<number, ChipInfo> = new Map(
  (
    [
      [0x0000, "ESP32"],
      [0x0002, "ESP32-S2"],
      [0x0005, "ESP32-C3"],
      [0x0009, "ESP32-S3"],
      [0x000c, "ESP32-C2"],
      [0x000d, "ESP32-C6"],
      [0x0010, "ESP32-H2"],
      [0x0012, "ESP32-P4"],
      [0x0014, "ESP32-C61"],
      [0x0017, "ESP32-C5"],
      [0x0019, "ESP32-H21"],
      [0x001c, "ESP32-H4"],
    ] as const
  ).map(([id, name]) => [id, Object.freeze({ id, name })])
);

/** Chip ids by short name, for options such as `{ chip: ChipId.ESP32C3 }`. */
export const ChipId = {
  ESP32: 0x0000,
  ESP32S2: 0x0002,
  ESP32C3: 0x0005,
  ESP32S3: 0x0009,
  ESP32C2: 0x000c,
  ESP32C6: 0x000d,
  ESP32H2: 0x0010,
  ESP32P4: 0x0012,
  ESP32C61: 0x0014,
  ESP32C5: 0x0017,
  ESP32H21: 0x0019,
  ESP32H4: 0x001c,
} as const;

/** The chip with this id, or undefined. */
export function chipById(id: number): ChipInfo | undefined {
  return CHIPS.get(id);
}

/** Formats a chip revision (major * 100 + minor) as "v3.1". */
export function formatChipRevision(full: number): string {
  return `v${Math.floor(full / 100)}.${full % 100}`;
}
