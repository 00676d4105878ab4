#pragma once
#include "freertos/FreeRTOS.h"
typedef struct StreamBufferDef_t *StreamBufferHandle_t;
StreamBufferHandle_t xStreamBufferCreate(size_t size, size_t trigger);
size_t xStreamBufferSend(StreamBufferHandle_t b, const void *d, size_t n, TickType_t t);
size_t xStreamBufferReceive(StreamBufferHandle_t b, void *d, size_t n, TickType_t t);
size_t xStreamBufferSpacesAvailable(StreamBufferHandle_t b);
size_t xStreamBufferBytesAvailable(StreamBufferHandle_t b);
BaseType_t xStreamBufferIsEmpty(StreamBufferHandle_t b);
BaseType_t xStreamBufferReset(StreamBufferHandle_t b);
