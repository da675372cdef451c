/*
 * libFuzzer harness for the WebSocket frame parser (ws_parser_feed) and writer.
 *
 * Input: byte 0 picks max_message (0: the 1 MiB default, else 8 * byte), bytes 1-3 are three
 * chunk sizes used in turn (1-64 bytes; 0xFF: all that is left), the rest is what a client
 * sends. Beyond "no crash, no leak" it checks what the parser promises: messages within the
 * limit, text valid UTF-8, control payloads of at most 125 bytes, close codes allowed, errors
 * sticky with a close code the server may send; and that what the writer makes of each event
 * (re-fragmented, masked) parses back to the same event.
 */
#include <stdio.h>
#include <stdlib.h>

#include "http/http-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #x);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const uint8_t fuzz_mask[4] = {0xa5, 0x00, 0x5a, 0xff};

/* Parses <in> in one go with a fresh parser and expects exactly <want> back. */
static void expect_parse(struct slice in, size_t max_message, const struct ws_event *want)
{
    struct ws_parser p;
    struct ws_event ev;
    size_t used;

    ws_parser_init(&p, max_message, true);
    used = ws_parser_feed(&p, in.ptr, in.len, &ev);
    FUZZ_CHECK(used == in.len);
    FUZZ_CHECK(ev.type == want->type);
    FUZZ_CHECK(ev.text == want->text);
    FUZZ_CHECK(ev.code == want->code);
    FUZZ_CHECK(slice_eq(ev.data, want->data));
    ws_parser_release(&p);
}

/* A message goes back out as two fragments with a ping between them. */
static void roundtrip_message(const struct ws_event *ev, size_t max_message)
{
    struct sbuf b = SBUF_INIT(SIZE_MAX);
    size_t half = ev->data.len / 2;

    ws_frame_write(&b, ev->text ? WS_OP_TEXT : WS_OP_BINARY, false,
                   (struct slice){ev->data.ptr, half}, fuzz_mask);
    ws_frame_write(&b, WS_OP_PING, true, SLICE("x"), fuzz_mask);
    ws_frame_write(&b, WS_OP_CONT, true, (struct slice){ev->data.ptr + half, ev->data.len - half},
                   fuzz_mask);
    {
        struct ws_parser p;
        struct ws_event got;
        size_t used;

        ws_parser_init(&p, max_message, true);
        used = ws_parser_feed(&p, b.buf, b.len, &got);
        FUZZ_CHECK(got.type == WS_EV_PING);
        used += ws_parser_feed(&p, b.buf + used, b.len - used, &got);
        FUZZ_CHECK(used == b.len);
        FUZZ_CHECK(got.type == WS_EV_MESSAGE && got.text == ev->text);
        FUZZ_CHECK(slice_eq(got.data, ev->data));
        ws_parser_release(&p);
    }
    sbuf_release(&b);
}

static void roundtrip_close(const struct ws_event *ev)
{
    uint8_t payload[WS_MAX_CONTROL];
    struct sbuf b = SBUF_INIT(256);
    size_t n = ev->code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(payload, ev->code, ev->data);

    ws_frame_write(&b, WS_OP_CLOSE, true, (struct slice){(const char *)payload, n}, fuzz_mask);
    expect_parse(sbuf_slice(&b), 0, ev);
    sbuf_release(&b);
}

static void roundtrip_control(const struct ws_event *ev)
{
    struct sbuf b = SBUF_INIT(256);

    ws_frame_write(&b, ev->type == WS_EV_PING ? WS_OP_PING : WS_OP_PONG, true, ev->data, fuzz_mask);
    expect_parse(sbuf_slice(&b), 0, ev);
    sbuf_release(&b);
}

static void check_event(const struct ws_event *ev, size_t max_message)
{
    switch (ev->type) {
    case WS_EV_MESSAGE:
        FUZZ_CHECK(ev->data.len <= max_message);
        FUZZ_CHECK(!ev->text || ws_utf8_valid(ev->data));
        roundtrip_message(ev, max_message);
        break;
    case WS_EV_PING:
    case WS_EV_PONG:
        FUZZ_CHECK(ev->data.len <= WS_MAX_CONTROL);
        roundtrip_control(ev);
        break;
    case WS_EV_CLOSE:
        FUZZ_CHECK(ev->code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev->code));
        FUZZ_CHECK(ev->data.len <= WS_MAX_REASON && ws_utf8_valid(ev->data));
        roundtrip_close(ev);
        break;
    case WS_EV_ERROR:
        FUZZ_CHECK(ev->code == WS_CLOSE_PROTOCOL || ev->code == WS_CLOSE_BAD_DATA ||
                   ev->code == WS_CLOSE_TOO_BIG);
        FUZZ_CHECK(ev->data.len > 0 && ws_close_code_valid(ev->code));
        break;
    case WS_EV_NONE:
        break;
    }
}

/* Feeds <in> in chunks of the three sizes in turn until it is used up or the parser fails. */
static void run(struct slice in, size_t max_message, const uint8_t sizes[3])
{
    struct ws_parser p;
    struct ws_event ev = {.type = WS_EV_NONE};
    size_t off = 0;

    ws_parser_init(&p, max_message, true);
    for (size_t turn = 0; off < in.len && ev.type != WS_EV_ERROR; turn++) {
        size_t step = sizes[turn % 3] == 0xFF ? in.len - off : (size_t)sizes[turn % 3] % 64 + 1;
        size_t end = step < in.len - off ? off + step : in.len;

        while (off < end) {
            size_t used = ws_parser_feed(&p, in.ptr + off, end - off, &ev);

            FUZZ_CHECK(used <= end - off);
            off += used;
            check_event(&ev, p.max_message);
            if (ev.type == WS_EV_NONE)
                FUZZ_CHECK(off == end);
            if (ev.type == WS_EV_NONE || ev.type == WS_EV_ERROR)
                break;
        }
    }
    if (ev.type == WS_EV_ERROR) { /* sticky */
        struct ws_event again;

        FUZZ_CHECK(ws_parser_feed(&p, in.ptr, in.len, &again) == 0);
        FUZZ_CHECK(again.type == WS_EV_ERROR && again.code == ev.code);
    }
    ws_parser_release(&p);
}

/* The handshake check on the same bytes as key and offered subprotocols: no crash, and an
 * accepted key gives a 28-character answer. */
static void handshake(struct slice in)
{
    struct ws_handshake hs = {.method = HTTP_GET,
                              .upgrade = SLICE("websocket"),
                              .connection = SLICE("Upgrade"),
                              .version = SLICE("13"),
                              .key = {in.ptr, in.len < 26 ? in.len : 26},
                              .protocol = in};
    struct http_ws_opts opts = {.subprotocol = "graphql-transport-ws"};
    char accept[29] = "";
    struct err err = {0};
    int status = 0;

    if (ws_handshake_check(&hs, &opts, accept, &status, &err) == 0)
        FUZZ_CHECK(strlen(accept) == 28);
    else
        FUZZ_CHECK(status == 400 && err.msg[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice in;

    if (size < 4)
        return 0;
    in = (struct slice){(const char *)data + 4, size - 4};
    run(in, (size_t)data[0] * 8, data + 1);
    handshake(in);
    return 0;
}
