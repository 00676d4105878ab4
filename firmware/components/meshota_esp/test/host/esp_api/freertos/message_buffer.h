#pragma once
#include "freertos/FreeRTOS.h"
typedef struct MessageBufferDef_t *MessageBufferHandle_t;
MessageBufferHandle_t xMessageBufferCreate(size_t size);
size_t xMessageBufferSend(MessageBufferHandle_t b, const void *d, size_t n, TickType_t t);
size_t xMessageBufferReceive(MessageBufferHandle_t b, void *d, size_t n, TickType_t t);
BaseType_t xMessageBufferReset(MessageBufferHandle_t b);
