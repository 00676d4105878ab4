"""Parse the meshota_esp Kconfig and the example apps' Kconfig files with kconfiglib, and load
each example's sdkconfig.defaults: every meshota, gateway and bridge setting must name an
existing symbol with a valid value. Run by ctest (meshota_esp_kconfig).

usage: check_kconfig.py <firmware dir>
"""
import os
import sys
import tempfile

import kconfiglib

fw = os.path.abspath(sys.argv[1])
# ESP-IDF defines ESP_WIFI_ENABLED; everything else meshota's Kconfig uses is its own.
top = f'''mainmenu "meshota Kconfig check"
config ESP_WIFI_ENABLED
    bool
    default y
source "{fw}/components/meshota_esp/Kconfig"
source "{fw}/examples/gateway/main/Kconfig.projbuild"
source "{fw}/examples/bridge/main/Kconfig.projbuild"
'''
with tempfile.NamedTemporaryFile("w", suffix=".Kconfig", delete=False) as f:
    f.write(top)
    path = f.name
try:
    kconf = kconfiglib.Kconfig(path, warn_to_stderr=False)
    kconf.warn_assign_undef = True  # a misspelt setting must not pass silently
finally:
    os.unlink(path)

failures = [f"Kconfig: {w}" for w in kconf.warnings]
expect = {
    "node": {"MESHOTA_PUBLIC_KEY_FROM_HEADER": "y", "MESHOTA_METHOD_WIFI": "y",
             "MESHOTA_METHOD_TCP": "y", "MESHOTA_METHOD_ESPNOW": "y", "MESHOTA_METHOD_MESH": "y"},
    "gateway": {"MESHOTA_PUBLIC_KEY_NONE": "y", "MESHOTA_METHOD_WIFI": "n",
                "MESHOTA_GATEWAY_PORT": "4650"},
    "bridge": {"BRIDGE_BAUD_RATE": "921600", "BRIDGE_UART_NUM": "0"},
}
for app, values in expect.items():
    kconf.warnings.clear()
    kconf.load_config(f"{fw}/examples/{app}/sdkconfig.defaults", replace=True)
    # Symbols of ESP-IDF itself (BT_, BLE_MESH_, ...) are not defined here: only ours count.
    ours = ("MESHOTA_", "GATEWAY_", "BRIDGE_")
    failures += [f"{app}: {w}" for w in kconf.warnings if any(p in w for p in ours)]
    for name, want in values.items():
        got = kconf.syms[name].str_value
        if got != want:
            failures.append(f"{app}: {name} is {got!r}, expected {want!r}")

for msg in failures:
    print(msg)
print(f"{len(failures)} problem(s)")
sys.exit(1 if failures else 0)
