# Fails when a log statement of the ESP-IDF glue mentions a secret: Wi-Fi SSID or passphrase,
# session token, credentials struct, or key material. Run by ctest (meshota_esp_no_secret_logs):
#   cmake -DSRC_DIR=<dir with the .c files> -P check_no_secret_logs.cmake
# A log statement is ESP_LOGx( ... up to the next ';'. The SSID counts as a secret too: it names
# the customer's network. The certificate pin is a hash of a public certificate, not a secret.
set(forbidden "password" "passwd" "ssid" "token" "creds" "app_key" "net_key" "dev_key"
    "device_key")
file(GLOB SOURCES "${SRC_DIR}/*.c")
if(NOT SOURCES)
    message(FATAL_ERROR "no sources in '${SRC_DIR}'")
endif()
set(failures 0)
foreach(src IN LISTS SOURCES)
    file(READ "${src}" text)
    # Keep list separators out of the way: ';' only ends statements here.
    string(REPLACE ";" "\n@END@\n" text "${text}")
    string(REGEX MATCHALL "ESP_LOG[EWIDV]\\([^@]*@END@" calls "${text}")
    foreach(call IN LISTS calls)
        string(TOLOWER "${call}" lower)
        foreach(word IN LISTS forbidden)
            # Words only: "ssid" must not match "bssid_len"-like longer names.
            if(lower MATCHES "(^|[^a-z_])${word}([^a-z_]|$)")
                string(REPLACE "\n@END@\n" ";" shown "${call}")
                string(REPLACE "@END@" "" shown "${shown}")
                message(WARNING "${src}: log statement mentions '${word}':\n${shown}")
                math(EXPR failures "${failures} + 1")
            endif()
        endforeach()
    endforeach()
endforeach()
if(failures GREATER 0)
    message(FATAL_ERROR "${failures} log statement(s) may print secrets")
endif()
list(LENGTH SOURCES n)
message(STATUS "no secrets in the log statements of ${n} files")
