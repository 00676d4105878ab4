/* From components/log/include/esp_log.h (ESP-IDF v5.x): the level type, esp_log_level_get and
 * the logging macros, here routed to one host function. */
#pragma once
typedef enum {
    ESP_LOG_NONE,
    ESP_LOG_ERROR,
    ESP_LOG_WARN,
    ESP_LOG_INFO,
    ESP_LOG_DEBUG,
    ESP_LOG_VERBOSE,
} esp_log_level_t;
esp_log_level_t esp_log_level_get(const char *tag);
void esp_log_host(esp_log_level_t level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ESP_LOG_LEVEL(level, tag, format, ...) esp_log_host(level, tag, format, ##__VA_ARGS__)
#define ESP_LOGE(tag, format, ...) esp_log_host(ESP_LOG_ERROR, tag, format, ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) esp_log_host(ESP_LOG_WARN, tag, format, ##__VA_ARGS__)
#define ESP_LOGI(tag, format, ...) esp_log_host(ESP_LOG_INFO, tag, format, ##__VA_ARGS__)
#define ESP_LOGD(tag, format, ...) esp_log_host(ESP_LOG_DEBUG, tag, format, ##__VA_ARGS__)
