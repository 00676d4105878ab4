// The size budget of the mesh: every control message's worst case (from the nanopb bounds)
// fits one segmented access payload. Raising a bound past it makes this test fail.
import { describe, expect, it } from "vitest";
import { MAX_ENCODED_SIZE, SEGMENTED_PARAMS_MAX, UNSEGMENTED_PARAMS_MAX, VENDOR_MESSAGES } from "./index.js";

describe("size budget", () => {
  it("should derive 377 and 8 parameter bytes from the access payloads", () => {
    expect(SEGMENTED_PARAMS_MAX).toBe(377);
    expect(UNSEGMENTED_PARAMS_MAX).toBe(8);
  });

  it.each(VENDOR_MESSAGES.filter((e) => e.budget !== "none").map((e) => [e.name, e] as const))(
    "should fit the worst case of %s in one segmented access payload",
    (_, entry) => {
      expect(entry.maxSize).toBeLessThanOrEqual(SEGMENTED_PARAMS_MAX);
      expect(MAX_ENCODED_SIZE[entry.schema.typeName]).toBe(entry.maxSize);
    },
  );

  it("should keep the largest messages where the schema put them", () => {
    // Pinned so that a change of bounds is a visible, reviewed change of this table.
    expect(Object.fromEntries(VENDOR_MESSAGES.map((e) => [e.name, e.maxSize]))).toEqual({
      InfoGet: 0,
      InfoStatus: 149,
      CredentialsSet: 106,
      UpdateStart: 359,
      UpdateGet: 0,
      UpdateStatus: 16,
      UpdateCancel: 6,
      UpdateApply: 6,
      UpdateConfirm: 6,
      RelayStart: 289,
      RelayGet: 0,
      RelayStatus: 16,
      DataFrame: 1458,
    });
  });

  it("should mark every status, progress and request message unsegmented", () => {
    const unsegmented = VENDOR_MESSAGES.filter((e) => e.budget === "unsegmented").map((e) => e.name);
    expect(unsegmented).toEqual(["InfoGet", "UpdateGet", "UpdateStatus", "UpdateCancel", "UpdateApply", "UpdateConfirm", "RelayGet", "RelayStatus"]);
  });
});
