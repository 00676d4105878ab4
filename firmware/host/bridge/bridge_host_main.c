/*
 * meshota_bridge_host: the bridge dongle on this machine. Prints "pty <path>" and
 * "air <udp port>" on stdout, then bridges until killed or until stdin closes. A byte 'R' on
 * stdin restarts the dongle (as a reset would, the pty staying open).
 *
 *   meshota_bridge_host --peer-port N [--mac 02:00:00:00:00:01] [--channel 1]
 *                       [--espnow-version 1|2]
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge_host.h"

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

int main(int argc, char **argv)
{
    meshota_bridge_config_t cfg = {.mac = {0x02, 0, 0, 0, 0, 0x01}, .channel = 1, .espnow_version = 1,
                                   .max_payload = 250};
    long peer = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--peer-port") == 0) {
            peer = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--mac") == 0) {
            if (parse_mac(argv[i + 1], cfg.mac) != 0) {
                fprintf(stderr, "bad MAC address: %s\n", argv[i + 1]);
                return 2;
            }
        } else if (strcmp(argv[i], "--channel") == 0) {
            cfg.channel = (uint8_t)strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--espnow-version") == 0) {
            cfg.espnow_version = (uint8_t)strtol(argv[i + 1], NULL, 10);
            cfg.max_payload = cfg.espnow_version == 2 ? 1470 : 250;
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (peer <= 0 || peer > 65535) {
        fprintf(stderr, "usage: %s --peer-port N [--mac M] [--channel C] [--espnow-version V]\n",
                argv[0]);
        return 2;
    }
    static bridge_host_t h;
    if (bridge_host_open(&h, &cfg, (uint16_t)peer) != 0) {
        perror("bridge_host_open");
        return 1;
    }
    printf("pty %s\nair %u\n", h.slave_path, (unsigned)h.air_port);
    fflush(stdout);
    for (;;) {
        struct pollfd in = {.fd = 0, .events = POLLIN};
        if (poll(&in, 1, 0) > 0) {
            char c;
            if (read(0, &c, 1) <= 0) {
                break; /* The parent went away. */
            }
            if (c == 'R') {
                bridge_host_restart(&h, &cfg); /* A dongle reset, the serial port staying open. */
            }
        }
        if (bridge_host_step(&h, 20) != 0) {
            perror("bridge_host_step");
            break;
        }
    }
    bridge_host_close(&h);
    return 0;
}
