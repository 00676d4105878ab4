/* From components/spi_flash/include/spi_flash_mmap.h (ESP-IDF v5.x). */
#pragma once
#define SPI_FLASH_SEC_SIZE 4096 /**< SPI Flash sector size */
