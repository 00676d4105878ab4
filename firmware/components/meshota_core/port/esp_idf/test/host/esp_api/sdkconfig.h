/* Configuration for the host build of the ESP-IDF port: an ESP32-C3 build (chip id 5). */
#pragma once
#define CONFIG_IDF_FIRMWARE_CHIP_ID 0x0005
#define CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE 1
