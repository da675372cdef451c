/*
 * WebSocket: the frame parser and writer, the handshake check, and whole connections over a
 * socketpair with a real event loop in a thread (the test plays the client).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"

#include "http/http-int.h"

static const uint8_t test_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ------------------------------------------------------------------ parser helpers */

/* Appends a masked (client) frame. */
static void cframe(struct sbuf *b, enum ws_opcode op, bool fin, const void *data, size_t len)
{
    ws_frame_write(b, op, fin, (struct slice){data, len}, test_mask);
}
#define CFRAME(b, op, fin, lit) cframe((b), (op), (fin), (lit), sizeof(lit) - 1)

static void close_frame(struct sbuf *b, int code, const char *reason)
{
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = ws_close_payload(payload, code, slice_from_cstr(reason));

    cframe(b, WS_OP_CLOSE, true, payload, n);
}

#define MAX_EVENTS 16

/* What a parser made of a byte stream: events with a copy of the start of their data. */
struct rec {
    int n;
    struct {
        enum ws_event_type type;
        bool text;
        int code;
        size_t len;
        uint64_t hash;
        char data[128];
    } ev[MAX_EVENTS];
    size_t consumed; /* bytes consumed when the stream ended or the error came */
};

static uint64_t fnv(struct slice s)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 1099511628211ULL;
    return h;
}

static void record(struct rec *r, const struct ws_event *ev)
{
    size_t n = ev->data.len < sizeof(r->ev[0].data) - 1 ? ev->data.len : sizeof(r->ev[0].data) - 1;

    if (r->n == MAX_EVENTS)
        test_fail(__FILE__, __LINE__, "more than %d events", MAX_EVENTS);
    r->ev[r->n].type = ev->type;
    r->ev[r->n].text = ev->text;
    r->ev[r->n].code = ev->code;
    r->ev[r->n].len = ev->data.len;
    r->ev[r->n].hash = fnv(ev->data);
    if (n)
        memcpy(r->ev[r->n].data, ev->data.ptr, n);
    r->ev[r->n].data[n] = '\0';
    r->n++;
}

/* Feeds <in> in chunks of <step> bytes (0: all at once) to a server-side parser; stops at
 * the first error. */
static void run_steps(struct slice in, size_t step, size_t max_message, struct rec *r)
{
    struct ws_parser p;
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    ws_parser_init(&p, max_message, true);
    while (off < in.len) {
        size_t end = step && step < in.len - off ? off + step : in.len;

        while (off < end) {
            struct ws_event ev;

            off += ws_parser_feed(&p, in.ptr + off, end - off, &ev);
            if (ev.type == WS_EV_NONE) {
                CHECK_UINT_EQ(off, end);
                break;
            }
            record(r, &ev);
            if (ev.type == WS_EV_ERROR)
                goto out;
        }
    }
out:
    r->consumed = off;
    ws_parser_release(&p);
}

static void check_same(const struct rec *a, const struct rec *b)
{
    CHECK_INT_EQ(a->n, b->n);
    CHECK_UINT_EQ(a->consumed, b->consumed);
    for (int i = 0; i < a->n; i++) {
        CHECK_INT_EQ(a->ev[i].type, b->ev[i].type);
        CHECK_INT_EQ(a->ev[i].code, b->ev[i].code);
        CHECK_INT_EQ(a->ev[i].text, b->ev[i].text);
        CHECK_UINT_EQ(a->ev[i].len, b->ev[i].len);
        CHECK_UINT_EQ(a->ev[i].hash, b->ev[i].hash);
    }
}

/* Parses <in> in one chunk, byte by byte and 7 bytes at a time; all three must agree. */
static void parse(struct slice in, size_t max_message, struct rec *r)
{
    struct rec bytewise, sevens;

    run_steps(in, 0, max_message, r);
    run_steps(in, 1, max_message, &bytewise);
    run_steps(in, 7, max_message, &sevens);
    check_same(r, &bytewise);
    check_same(r, &sevens);
}

/* Parses <in> and expects exactly one event, an error with close <code>. */
static void expect_error(struct slice in, size_t max_message, int code)
{
    struct rec r;

    parse(in, max_message, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_ERROR);
    CHECK_INT_EQ(r.ev[0].code, code);
    CHECK(r.ev[0].len > 0); /* says which rule */
}

static struct slice raw(const uint8_t *b, size_t n)
{
    return (struct slice){(const char *)b, n};
}

/* ------------------------------------------------------------------ parser */

TEST(parse_masked_text)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    struct rec r;

    CFRAME(&b, WS_OP_TEXT, true, "Hello");
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
    CHECK(r.ev[0].text);
    CHECK_STR_EQ(r.ev[0].data, "Hello");
    CHECK_UINT_EQ(r.consumed, b.len);
    sbuf_release(&b);
}

TEST(parse_rfc_example_bytes)
{
    /* RFC 6455 §5.7: a masked "Hello" from a client. */
    static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct rec r;

    parse(raw(in, sizeof(in)), 0, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
    CHECK_STR_EQ(r.ev[0].data, "Hello");
}

TEST(parse_empty_and_binary_messages)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    static const uint8_t bin[] = {0, 0xff, 0x80, 'x'};
    struct rec r;

    CFRAME(&b, WS_OP_TEXT, true, "");
    cframe(&b, WS_OP_BINARY, true, bin, sizeof(bin));
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.n, 2);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
    CHECK(r.ev[0].text);
    CHECK_UINT_EQ(r.ev[0].len, 0);
    CHECK_INT_EQ(r.ev[1].type, WS_EV_MESSAGE);
    CHECK(!r.ev[1].text);
    CHECK_MEM_EQ(r.ev[1].data, r.ev[1].len, bin, sizeof(bin));
    sbuf_release(&b);
}

static void check_length(size_t len, size_t head_len)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    char *data = malloc(len);
    struct rec r;

    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7);
    cframe(&b, WS_OP_BINARY, true, data, len);
    CHECK_UINT_EQ(b.len, head_len + len);
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
    CHECK_UINT_EQ(r.ev[0].len, len);
    CHECK_UINT_EQ(r.ev[0].hash, fnv((struct slice){data, len}));
    free(data);
    sbuf_release(&b);
}

TEST(parse_7_16_and_64_bit_lengths)
{
    check_length(125, 6);
    check_length(126, 8);
    check_length(65535, 8);
    check_length(65536, 14);
    check_length(70000, 14);
}

TEST(parse_fragmented_message_with_ping_inside)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    struct rec r;

    CFRAME(&b, WS_OP_TEXT, false, "Hel");
    CFRAME(&b, WS_OP_PING, true, "are you there");
    CFRAME(&b, WS_OP_CONT, false, "lo, ");
    CFRAME(&b, WS_OP_PONG, true, "");
    CFRAME(&b, WS_OP_CONT, true, "world");
    CFRAME(&b, WS_OP_BINARY, true, "next");
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.n, 4);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_PING);
    CHECK_STR_EQ(r.ev[0].data, "are you there");
    CHECK_INT_EQ(r.ev[1].type, WS_EV_PONG);
    CHECK_INT_EQ(r.ev[2].type, WS_EV_MESSAGE);
    CHECK(r.ev[2].text);
    CHECK_STR_EQ(r.ev[2].data, "Hello, world");
    CHECK_INT_EQ(r.ev[3].type, WS_EV_MESSAGE);
    CHECK(!r.ev[3].text);
    CHECK_STR_EQ(r.ev[3].data, "next");
    sbuf_release(&b);
}

TEST(parse_utf8_split_across_fragments)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    struct rec r;

    CFRAME(&b, WS_OP_TEXT, false, "caf\xC3");   /* é cut in two */
    CFRAME(&b, WS_OP_CONT, false, "\xA9 \xE2"); /* € cut twice */
    CFRAME(&b, WS_OP_CONT, true, "\x82\xAC");
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
    CHECK_STR_EQ(r.ev[0].data, "caf\xC3\xA9 \xE2\x82\xAC");
    sbuf_release(&b);
}

TEST(parse_invalid_utf8_is_1007)
{
    struct sbuf b = SBUF_INIT(1 << 20);

    CFRAME(&b, WS_OP_TEXT, true, "ok \xC3\x28");
    expect_error(sbuf_slice(&b), 0, WS_CLOSE_BAD_DATA);
    sbuf_reset(&b);
    CFRAME(&b, WS_OP_TEXT, false, "caf\xC3"); /* cut character never completed */
    CFRAME(&b, WS_OP_CONT, true, "");
    expect_error(sbuf_slice(&b), 0, WS_CLOSE_BAD_DATA);
    sbuf_reset(&b);
    CFRAME(&b, WS_OP_BINARY, true, "\xC3\x28");   /* binary is not checked */
    CFRAME(&b, WS_OP_TEXT, true, "\xED\xA0\x80"); /* a surrogate */
    {
        struct rec r;

        parse(sbuf_slice(&b), 0, &r);
        CHECK_INT_EQ(r.n, 2);
        CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
        CHECK_INT_EQ(r.ev[1].type, WS_EV_ERROR);
        CHECK_INT_EQ(r.ev[1].code, WS_CLOSE_BAD_DATA);
    }
    sbuf_release(&b);
}

TEST(parse_header_errors_are_1002)
{
    static const struct {
        const char *name;
        uint8_t bytes[16];
        size_t len;
    } cases[] = {
        {"rsv1", {0xC1, 0x80, 1, 2, 3, 4}, 6},
        {"rsv2", {0xA1, 0x80, 1, 2, 3, 4}, 6},
        {"rsv3", {0x91, 0x80, 1, 2, 3, 4}, 6},
        {"opcode 3", {0x83, 0x80, 1, 2, 3, 4}, 6},
        {"opcode 7", {0x87, 0x80, 1, 2, 3, 4}, 6},
        {"opcode 0xB", {0x8B, 0x80, 1, 2, 3, 4}, 6},
        {"opcode 0xF", {0x8F, 0x80, 1, 2, 3, 4}, 6},
        {"unmasked", {0x81, 0x02, 'h', 'i'}, 4},
        {"16-bit length 125", {0x82, 0xFE, 0x00, 0x7D, 1, 2, 3, 4}, 8},
        {"16-bit length 0", {0x82, 0xFE, 0x00, 0x00, 1, 2, 3, 4}, 8},
        {"64-bit length 256", {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4}, 14},
        {"64-bit length 65535", {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4}, 14},
        {"64-bit top bit", {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 14},
        {"ping 126", {0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4}, 8},
        {"close 127", {0x88, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x7F, 1, 2, 3, 4}, 14},
        {"fragmented ping", {0x09, 0x80, 1, 2, 3, 4}, 6},
        {"fragmented close", {0x08, 0x80, 1, 2, 3, 4}, 6},
        {"continuation first", {0x80, 0x80, 1, 2, 3, 4}, 6},
        {"close 1 byte", {0x88, 0x81, 1, 2, 3, 4, 0x03 ^ 1}, 7},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        fprintf(stderr, "# case %s\n", cases[i].name);
        expect_error(raw(cases[i].bytes, cases[i].len), 0, WS_CLOSE_PROTOCOL);
    }
}

TEST(parse_error_detected_from_first_two_bytes)
{
    /* Byte by byte, the parser stops as soon as the rule is broken: after byte 2. */
    static const uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    struct rec r;

    run_steps(raw(unmasked, sizeof(unmasked)), 1, 0, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].code, WS_CLOSE_PROTOCOL);
    CHECK_STR_EQ(r.ev[0].data, "client frame is not masked");
    CHECK_UINT_EQ(r.consumed, 2);
}

TEST(parse_data_frame_inside_fragmented_message_is_1002)
{
    struct sbuf b = SBUF_INIT(1 << 20);

    CFRAME(&b, WS_OP_TEXT, false, "one");
    CFRAME(&b, WS_OP_TEXT, true, "two");
    expect_error(sbuf_slice(&b), 0, WS_CLOSE_PROTOCOL);
    sbuf_reset(&b);
    CFRAME(&b, WS_OP_BINARY, false, "one");
    CFRAME(&b, WS_OP_BINARY, false, "two");
    expect_error(sbuf_slice(&b), 0, WS_CLOSE_PROTOCOL);
    sbuf_reset(&b);
    CFRAME(&b, WS_OP_TEXT, true, "done");
    CFRAME(&b, WS_OP_CONT, true, "more"); /* nothing left to continue */
    {
        struct rec r;

        parse(sbuf_slice(&b), 0, &r);
        CHECK_INT_EQ(r.n, 2);
        CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);
        CHECK_INT_EQ(r.ev[1].code, WS_CLOSE_PROTOCOL);
    }
    sbuf_release(&b);
}

TEST(parse_size_limit_is_1009_before_payload)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    char data[300];
    struct rec r;

    memset(data, 'a', sizeof(data));
    cframe(&b, WS_OP_TEXT, true, data, 100);
    parse(sbuf_slice(&b), 100, &r); /* exactly the limit */
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_MESSAGE);

    sbuf_reset(&b);
    cframe(&b, WS_OP_TEXT, true, data, 300);
    expect_error(sbuf_slice(&b), 299, WS_CLOSE_TOO_BIG);
    run_steps(sbuf_slice(&b), 1, 299, &r);
    CHECK_UINT_EQ(r.consumed, 8); /* the header only: no payload was buffered */
    CHECK_STR_EQ(r.ev[0].data, "message over 299 bytes");

    sbuf_reset(&b); /* the fragments together pass it */
    cframe(&b, WS_OP_BINARY, false, data, 60);
    CFRAME(&b, WS_OP_PING, true, "p");
    cframe(&b, WS_OP_CONT, true, data, 41);
    parse(sbuf_slice(&b), 100, &r);
    CHECK_INT_EQ(r.n, 2);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_PING);
    CHECK_INT_EQ(r.ev[1].type, WS_EV_ERROR);
    CHECK_INT_EQ(r.ev[1].code, WS_CLOSE_TOO_BIG);

    sbuf_reset(&b); /* a frame header claiming 2^62 bytes */
    {
        static const uint8_t huge[] = {0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};

        expect_error(raw(huge, sizeof(huge)), 0, WS_CLOSE_TOO_BIG);
    }
    sbuf_release(&b);
}

TEST(parse_close_frames)
{
    static const int good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    static const int bad[] = {0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535};
    struct sbuf b = SBUF_INIT(1 << 20);
    struct rec r;

    close_frame(&b, 1000, "bye");
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.n, 1);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_CLOSE);
    CHECK_INT_EQ(r.ev[0].code, 1000);
    CHECK_STR_EQ(r.ev[0].data, "bye");

    sbuf_reset(&b);
    CFRAME(&b, WS_OP_CLOSE, true, "");
    parse(sbuf_slice(&b), 0, &r);
    CHECK_INT_EQ(r.ev[0].type, WS_EV_CLOSE);
    CHECK_INT_EQ(r.ev[0].code, WS_CLOSE_NO_STATUS);

    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        sbuf_reset(&b);
        close_frame(&b, good[i], "");
        parse(sbuf_slice(&b), 0, &r);
        CHECK_INT_EQ(r.ev[0].type, WS_EV_CLOSE);
        CHECK_INT_EQ(r.ev[0].code, good[i]);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t payload[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};

        sbuf_reset(&b);
        cframe(&b, WS_OP_CLOSE, true, payload, 2);
        fprintf(stderr, "# code %d\n", bad[i]);
        expect_error(sbuf_slice(&b), 0, WS_CLOSE_PROTOCOL);
    }
    sbuf_reset(&b);
    CFRAME(&b, WS_OP_CLOSE, true, "\x03\xE8\xC3\x28"); /* 1000 and a bad reason */
    expect_error(sbuf_slice(&b), 0, WS_CLOSE_BAD_DATA);
    sbuf_release(&b);
}

TEST(parse_error_is_sticky)
{
    static const uint8_t bad[] = {0x81, 0x00};
    struct ws_parser p;
    struct ws_event ev;
    struct sbuf b = SBUF_INIT(1 << 10);

    ws_parser_init(&p, 0, true);
    CHECK_UINT_EQ(ws_parser_feed(&p, bad, sizeof(bad), &ev), 2);
    CHECK_INT_EQ(ev.type, WS_EV_ERROR);
    CFRAME(&b, WS_OP_TEXT, true, "fine");
    CHECK_UINT_EQ(ws_parser_feed(&p, b.buf, b.len, &ev), 0);
    CHECK_INT_EQ(ev.type, WS_EV_ERROR);
    CHECK_INT_EQ(ev.code, WS_CLOSE_PROTOCOL);
    ws_parser_release(&p);
    sbuf_release(&b);
}

TEST(parse_client_side_wants_unmasked)
{
    struct sbuf b = SBUF_INIT(1 << 10);
    struct ws_parser p;
    struct ws_event ev;

    ws_parser_init(&p, 0, false);
    ws_frame_write(&b, WS_OP_TEXT, true, SLICE("hi"), NULL);
    CHECK_UINT_EQ(ws_parser_feed(&p, b.buf, b.len, &ev), b.len);
    CHECK_INT_EQ(ev.type, WS_EV_MESSAGE);
    CHECK_MEM_EQ(ev.data.ptr, ev.data.len, "hi", 2);
    sbuf_reset(&b);
    CFRAME(&b, WS_OP_TEXT, true, "hi");
    (void)ws_parser_feed(&p, b.buf, b.len, &ev);
    CHECK_INT_EQ(ev.type, WS_EV_ERROR);
    CHECK_STR_EQ(ev.data.ptr, "server frame is masked");
    ws_parser_release(&p);
    sbuf_release(&b);
}

TEST(utf8_validator)
{
    static const char *good[] = {"",
                                 "abc",
                                 "\xC3\xA9",
                                 "\xE2\x82\xAC",
                                 "\xF0\x9D\x84\x9E",
                                 "\xF4\x8F\xBF\xBF",
                                 "\xEF\xBF\xBF",
                                 "\xED\x9F\xBF"};
    static const char *bad[] = {"\xC0\x80",
                                "\xC1\xBF",
                                "\xE0\x80\x80",
                                "\xF0\x80\x80\x80",
                                "\xED\xA0\x80",
                                "\xED\xBF\xBF",
                                "\xF4\x90\x80\x80",
                                "\xF8\x88\x80\x80\x80",
                                "\xFF",
                                "\x80",
                                "\xC3",
                                "\xE2\x82",
                                "\xC3\x28",
                                "a\xF0\x9D\x84"};

    for (size_t i = 0; i < ARRAY_LEN(good); i++)
        CHECK(ws_utf8_valid(slice_from_cstr(good[i])));
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        fprintf(stderr, "# bad %zu\n", i);
        CHECK(!ws_utf8_valid(slice_from_cstr(bad[i])));
    }
}

/* ------------------------------------------------------------------ writer */

TEST(write_headers)
{
    uint8_t h[WS_FRAME_HEADER_MAX];

    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_TEXT, true, 5, NULL), "\x81\x05", 2);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_BINARY, true, 125, NULL), "\x82\x7D", 2);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_BINARY, true, 126, NULL), "\x82\x7E\x00\x7E", 4);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_BINARY, true, 65535, NULL), "\x82\x7E\xFF\xFF", 4);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_BINARY, true, 65536, NULL),
                 "\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_PING, true, 0, NULL), "\x89\x00", 2);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_PONG, true, 3, NULL), "\x8A\x03", 2);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_CLOSE, true, 2, NULL), "\x88\x02", 2);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_TEXT, false, 1, NULL), "\x01\x01", 2);
    CHECK_MEM_EQ(h, ws_frame_header(h, WS_OP_TEXT, true, 5, test_mask), "\x81\x85\x37\xfa\x21\x3d",
                 6);
}

TEST(write_frames_parse_back)
{
    static const enum ws_opcode ops[] = {WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING, WS_OP_PONG};
    static const enum ws_event_type types[] = {WS_EV_MESSAGE, WS_EV_MESSAGE, WS_EV_PING,
                                               WS_EV_PONG};
    struct sbuf b = SBUF_INIT(1 << 20);
    struct ws_parser p;
    struct ws_event ev;

    ws_frame_write(&b, WS_OP_TEXT, true, SLICE("Hello"), NULL);
    CHECK_MEM_EQ(b.buf, b.len, "\x81\x05Hello", 7); /* RFC 6455 §5.7, unmasked */
    ws_parser_init(&p, 0, false);
    for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
        sbuf_reset(&b);
        ws_frame_write(&b, ops[i], true, SLICE("payload"), NULL);
        CHECK_UINT_EQ(ws_parser_feed(&p, b.buf, b.len, &ev), b.len);
        CHECK_INT_EQ(ev.type, types[i]);
        CHECK_MEM_EQ(ev.data.ptr, ev.data.len, "payload", 7);
    }
    ws_parser_release(&p);
    sbuf_release(&b);
}

TEST(write_close_payload)
{
    uint8_t out[WS_MAX_CONTROL];
    char reason[200];
    size_t n;

    CHECK_UINT_EQ(ws_close_payload(out, 0, SLICE("x")), 0);
    n = ws_close_payload(out, 1000, SLICE("bye"));
    CHECK_MEM_EQ(out, n,
                 "\x03\xE8"
                 "bye",
                 5);
    n = ws_close_payload(out, 4999, SLICE_NULL);
    CHECK_MEM_EQ(out, n, "\x13\x87", 2);

    memset(reason, 'a', sizeof(reason));
    n = ws_close_payload(out, 1000, (struct slice){reason, sizeof(reason)});
    CHECK_UINT_EQ(n, WS_MAX_CONTROL);
    reason[122] = '\xC3'; /* é over bytes 122 and 123: cut before it */
    reason[123] = '\xA9';
    n = ws_close_payload(out, 1000, (struct slice){reason, sizeof(reason)});
    CHECK_UINT_EQ(n, 2 + 122);
    CHECK(ws_utf8_valid((struct slice){(const char *)out + 2, n - 2}));
}

/* ------------------------------------------------------------------ handshake */

static struct ws_handshake good_handshake(void)
{
    return (struct ws_handshake){
        .method = HTTP_GET,
        .upgrade = SLICE("websocket"),
        .connection = SLICE("Upgrade"),
        .version = SLICE("13"),
        .key = SLICE("dGhlIHNhbXBsZSBub25jZQ=="),
    };
}

static void expect_reject(const struct ws_handshake *hs, const struct http_ws_opts *opts,
                          int status, const char *msg)
{
    char accept[29] = "";
    struct err err = {0};
    int st = 0;

    CHECK_INT_EQ(ws_handshake_check(hs, opts, accept, &st, &err), ERR_INVALID);
    CHECK_INT_EQ(err.code, ERR_INVALID);
    CHECK_INT_EQ(st, status);
    CHECK_STR_EQ(err.msg, msg);
}

static void expect_accept(const struct ws_handshake *hs, const struct http_ws_opts *opts,
                          const char *want)
{
    char accept[29] = "";
    struct err err = {0};
    int st = 0;

    CHECK_INT_EQ(ws_handshake_check(hs, opts, accept, &st, &err), 0);
    CHECK_STR_EQ(accept, want);
}

TEST(handshake_rfc_example)
{
    struct ws_handshake hs = good_handshake();

    expect_accept(&hs, NULL, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    hs.upgrade = SLICE("WebSocket");
    hs.connection = SLICE("keep-alive, Upgrade");
    hs.version = SLICE(" 13 ");
    hs.protocol = SLICE("chat");
    expect_accept(&hs, &(struct http_ws_opts){0}, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    hs.key = SLICE("x3JJHMbDL1EzLkh9GBhXDw==");
    expect_accept(&hs, NULL, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(handshake_rejects_bad_method_upgrade_connection)
{
    struct ws_handshake hs = good_handshake();

    hs.method = HTTP_POST;
    expect_reject(&hs, NULL, 400, "method: must be GET");
    hs = good_handshake();
    hs.upgrade = SLICE_NULL;
    expect_reject(&hs, NULL, 400, "Upgrade: missing, must be websocket");
    hs.upgrade = SLICE("h2c");
    expect_reject(&hs, NULL, 400, "Upgrade: must be websocket");
    hs = good_handshake();
    hs.connection = SLICE_NULL;
    expect_reject(&hs, NULL, 400, "Connection: must contain the token upgrade");
    hs.connection = SLICE("keep-alive");
    expect_reject(&hs, NULL, 400, "Connection: must contain the token upgrade");
    hs.connection = SLICE("upgrades");
    expect_reject(&hs, NULL, 400, "Connection: must contain the token upgrade");
}

TEST(handshake_rejects_bad_version_with_426)
{
    struct ws_handshake hs = good_handshake();

    hs.version = SLICE_NULL;
    expect_reject(&hs, NULL, 426, "Sec-WebSocket-Version: must be 13");
    hs.version = SLICE("8");
    expect_reject(&hs, NULL, 426, "Sec-WebSocket-Version: must be 13");
    hs.version = SLICE("13, 8");
    expect_reject(&hs, NULL, 426, "Sec-WebSocket-Version: must be 13");
}

TEST(handshake_rejects_bad_key)
{
    static const char *bad[] = {"",
                                "abc",
                                "dGhlIHNhbXBsZSBub25jZQ=",
                                "dGhlIHNhbXBsZSBub25jZQ===",
                                "dGhlIHNhbXBsZSBub25jZQAA",
                                "dGhlIHNhbXBsZSBub25j!Q==",
                                "dGhlIHNhbXBsZSBub25jZSBub25jZQ=="};
    struct ws_handshake hs = good_handshake();

    hs.key = SLICE_NULL;
    expect_reject(&hs, NULL, 400, "Sec-WebSocket-Key: missing");
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        hs.key = slice_from_cstr(bad[i]);
        expect_reject(&hs, NULL, 400, "Sec-WebSocket-Key: must be base64 of 16 bytes");
    }
}

TEST(handshake_subprotocol)
{
    struct http_ws_opts opts = {.subprotocol = "graphql-transport-ws"};
    struct ws_handshake hs = good_handshake();
    const char *msg = "Sec-WebSocket-Protocol: must offer graphql-transport-ws";

    expect_reject(&hs, &opts, 400, msg);
    hs.protocol = SLICE("graphql-ws");
    expect_reject(&hs, &opts, 400, msg);
    hs.protocol = SLICE("graphql-ws, graphql-transport-ws-2");
    expect_reject(&hs, &opts, 400, msg);
    hs.protocol = SLICE("graphql-ws, graphql-transport-ws");
    expect_accept(&hs, &opts, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* ------------------------------------------------------------------ connections */

#define WAIT_MS 10000 /* a bound on every wait, never an expectation */

/* One server-side connection on a loop thread, and the test as its client. Fields under
 * <lock> are written by callbacks on the loop thread and read by the test. */
struct harness {
    struct ev *loop;
    pthread_t thread;
    int sfd, cfd; /* the connection's end, the test's end */
    struct http_ws_opts opts;
    struct slice extra;
    struct http_ws *ws; /* loop thread only, until done */
    bool echo;          /* on_message sends each message back */
    bool quit_closes;   /* a "quit" message makes on_message send "bye" and close 4000 */
    int send_rc;        /* from flood() */
    int sent;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int opens, messages, closes, dones, jobs;
    int close_code;
    char close_reason[WS_MAX_REASON + 1];

    struct ws_parser cp; /* the client's parser: server frames */
    uint8_t buf[65536];
    size_t off, len;
};

static struct harness H;

static void bump(struct harness *h, int *counter)
{
    pthread_mutex_lock(&h->lock);
    (*counter)++;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void wait_count(struct harness *h, int *counter, int want, const char *what)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&h->lock);
    while (*counter < want && rc == 0)
        rc = pthread_cond_timedwait(&h->cond, &h->lock, &deadline);
    pthread_mutex_unlock(&h->lock);
    if (*counter < want)
        test_fail(__FILE__, __LINE__, "gave up waiting for %s", what);
}

static void h_open(void *arg, struct http_ws *ws)
{
    struct harness *h = arg;

    h->ws = ws;
    bump(h, &h->opens);
}

static void h_message(void *arg, struct http_ws *ws, bool text, struct slice data)
{
    struct harness *h = arg;

    if (h->quit_closes && slice_eq_cstr(data, "quit")) {
        CHECK_INT_EQ(http_ws_send(ws, true, SLICE("bye")), 0);
        http_ws_close(ws, 4000, "quit");
        CHECK_INT_EQ(http_ws_send(ws, true, SLICE("too late")), ERR_CONFLICT);
    } else if (h->echo) {
        CHECK_INT_EQ(http_ws_send(ws, text, data), 0);
    }
    bump(h, &h->messages);
}

static void h_close(void *arg, struct http_ws *ws, int code, struct slice reason)
{
    struct harness *h = arg;

    CHECK(ws == h->ws);
    CHECK_INT_EQ(http_ws_send(ws, true, SLICE("after close")), ERR_CONFLICT);
    pthread_mutex_lock(&h->lock);
    h->close_code = code;
    snprintf(h->close_reason, sizeof(h->close_reason), SLICE_FMT, SLICE_ARG(reason));
    pthread_mutex_unlock(&h->lock);
    bump(h, &h->closes);
}

static void h_done(void *arg)
{
    struct harness *h = arg;

    CHECK_INT_EQ(h->closes, 1); /* on_close came first, once */
    close(h->sfd);              /* what the server does */
    h->ws = NULL;
    bump(h, &h->dones);
}

static const struct http_ws_handler handler = {h_open, h_message, h_close};

static void *loop_main(void *arg)
{
    ev_run(arg);
    return NULL;
}

static void start_job(void *arg)
{
    struct harness *h = arg;

    (void)ws_conn_start(h->loop, h->sfd, h->extra, &h->opts, &handler, h, h_done, h);
}

/* Runs fn(h) on the loop and waits until it is done; fn must bump h->jobs. */
static void run_job(struct harness *h, ev_fn *fn)
{
    int want = h->jobs + 1;

    ev_post(h->loop, fn, h);
    wait_count(h, &h->jobs, want, "a job on the loop");
}

static void start(struct harness *h)
{
    int fds[2];

    CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    h->sfd = fds[0];
    h->cfd = fds[1];
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    ws_parser_init(&h->cp, 16 << 20, false);
    h->loop = ev_new("ws-test");
    CHECK_INT_EQ(pthread_create(&h->thread, NULL, loop_main, h->loop), 0);
    ev_post(h->loop, start_job, h);
    wait_count(h, &h->opens, 1, "on_open");
}

/* Waits for done, then stops everything. */
static void stop(struct harness *h)
{
    wait_count(h, &h->dones, 1, "done");
    ev_stop(h->loop);
    pthread_join(h->thread, NULL);
    ev_free(h->loop);
    if (h->cfd >= 0)
        close(h->cfd);
    ws_parser_release(&h->cp);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    CHECK_INT_EQ(h->opens, 1);
    CHECK_INT_EQ(h->closes, 1);
    CHECK_INT_EQ(h->dones, 1);
}

static void send_all(struct harness *h, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        struct pollfd pfd = {.fd = h->cfd, .events = POLLOUT};
        ssize_t n;

        if (poll(&pfd, 1, WAIT_MS) != 1)
            test_fail(__FILE__, __LINE__, "gave up waiting to write");
        n = write(h->cfd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void send_frames(struct harness *h, struct sbuf *b)
{
    send_all(h, b->buf, b->len);
    sbuf_reset(b);
}

/* The next frame event from the server: 0, or 1 at EOF. Fails the test on a long silence. */
static int next_event(struct harness *h, struct ws_event *ev)
{
    for (;;) {
        struct pollfd pfd = {.fd = h->cfd, .events = POLLIN};
        ssize_t n;

        if (h->off < h->len) {
            h->off += ws_parser_feed(&h->cp, h->buf + h->off, h->len - h->off, ev);
            if (ev->type != WS_EV_NONE)
                return 0;
        }
        h->off = h->len = 0;
        if (poll(&pfd, 1, WAIT_MS) != 1)
            test_fail(__FILE__, __LINE__, "gave up waiting for a frame");
        n = read(h->cfd, h->buf, sizeof(h->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 1;
        h->len = (size_t)n;
    }
}

static void expect_event(struct harness *h, enum ws_event_type type, const char *data)
{
    struct ws_event ev;

    CHECK_INT_EQ(next_event(h, &ev), 0);
    CHECK_INT_EQ(ev.type, type);
    if (data)
        CHECK_MEM_EQ(ev.data.ptr, ev.data.len, data, strlen(data));
}

static void expect_close(struct harness *h, int code, const char *reason)
{
    struct ws_event ev;

    CHECK_INT_EQ(next_event(h, &ev), 0);
    CHECK_INT_EQ(ev.type, WS_EV_CLOSE);
    CHECK_INT_EQ(ev.code, code);
    if (reason)
        CHECK_MEM_EQ(ev.data.ptr, ev.data.len, reason, strlen(reason));
}

static void expect_eof(struct harness *h)
{
    struct ws_event ev;

    CHECK_INT_EQ(next_event(h, &ev), 1);
}

static void expect_on_close(struct harness *h, int code, const char *reason)
{
    wait_count(h, &h->closes, 1, "on_close");
    CHECK_INT_EQ(h->close_code, code);
    CHECK_STR_EQ(h->close_reason, reason);
}

/* The client closes with <code>, the server echoes it and ends. */
static void client_close(struct harness *h, int code)
{
    struct sbuf b = SBUF_INIT(256);

    close_frame(&b, code, "");
    send_frames(h, &b);
    expect_close(h, code, "");
    expect_eof(h);
    sbuf_release(&b);
}

TEST(conn_echo_text_and_binary)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    char *big = malloc(70000);

    for (size_t i = 0; i < 70000; i++)
        big[i] = (char)(i * 13);
    H.echo = true;
    start(&H);
    CFRAME(&b, WS_OP_TEXT, true, "hello");
    send_frames(&H, &b);
    expect_event(&H, WS_EV_MESSAGE, "hello");
    CHECK(H.cp.msg_text);
    cframe(&b, WS_OP_BINARY, true, big, 70000);
    send_frames(&H, &b);
    {
        struct ws_event ev;

        CHECK_INT_EQ(next_event(&H, &ev), 0);
        CHECK_INT_EQ(ev.type, WS_EV_MESSAGE);
        CHECK(!ev.text);
        CHECK_MEM_EQ(ev.data.ptr, ev.data.len, big, 70000);
    }
    client_close(&H, 1000);
    expect_on_close(&H, 1000, "");
    stop(&H);
    CHECK_INT_EQ(H.messages, 2);
    free(big);
    sbuf_release(&b);
}

TEST(conn_fragments_joined_ping_answered)
{
    struct sbuf b = SBUF_INIT(1 << 20);

    H.echo = true;
    start(&H);
    CFRAME(&b, WS_OP_TEXT, false, "Hel");
    CFRAME(&b, WS_OP_PING, true, "ping inside");
    CFRAME(&b, WS_OP_CONT, false, "lo, ");
    send_frames(&H, &b);
    expect_event(&H, WS_EV_PONG, "ping inside"); /* answered before the message ends */
    CFRAME(&b, WS_OP_CONT, true, "world");
    send_frames(&H, &b);
    expect_event(&H, WS_EV_MESSAGE, "Hello, world");
    CFRAME(&b, WS_OP_PING, true, "");
    send_frames(&H, &b);
    expect_event(&H, WS_EV_PONG, "");
    client_close(&H, 1000);
    stop(&H);
    CHECK_INT_EQ(H.messages, 1);
    sbuf_release(&b);
}

TEST(conn_client_close_with_code_and_reason)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    start(&H);
    close_frame(&b, 4001, "bye now");
    send_frames(&H, &b);
    expect_close(&H, 4001, ""); /* the code echoed */
    expect_eof(&H);
    expect_on_close(&H, 4001, "bye now");
    stop(&H);
    sbuf_release(&b);
}

TEST(conn_client_close_without_code)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    start(&H);
    CFRAME(&b, WS_OP_CLOSE, true, "");
    send_frames(&H, &b);
    expect_close(&H, 1000, "");
    expect_eof(&H);
    expect_on_close(&H, WS_CLOSE_NO_STATUS, "");
    stop(&H);
    sbuf_release(&b);
}

static void close_job(void *arg)
{
    struct harness *h = arg;

    http_ws_close(h->ws, 4000, "done here");
    http_ws_close(h->ws, 4002, "twice"); /* ignored */
    bump(h, &h->jobs);
}

TEST(conn_server_close_handshake)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    start(&H);
    run_job(&H, close_job);
    expect_close(&H, 4000, "done here");
    close_frame(&b, 4000, "");
    send_frames(&H, &b);
    expect_eof(&H);
    expect_on_close(&H, 4000, "done here");
    stop(&H);
    sbuf_release(&b);
}

TEST(conn_server_close_times_out_without_answer)
{
    start(&H);
    run_job(&H, close_job);
    expect_close(&H, 4000, "done here");
    expect_eof(&H); /* after WS_CLOSE_TIMEOUT_MS */
    expect_on_close(&H, 4000, "done here");
    stop(&H);
}

static void shutdown_job(void *arg)
{
    struct harness *h = arg;

    ws_conn_shutdown(h->ws);
    bump(h, &h->jobs);
}

TEST(conn_shutdown_is_1001)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    start(&H);
    run_job(&H, shutdown_job);
    expect_close(&H, 1001, "server shutting down");
    close_frame(&b, 1001, "");
    send_frames(&H, &b);
    expect_eof(&H);
    expect_on_close(&H, 1001, "server shutting down");
    stop(&H);
    sbuf_release(&b);
}

TEST(conn_unmasked_frame_closes_1002)
{
    static const uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};

    H.echo = true;
    start(&H);
    send_all(&H, unmasked, sizeof(unmasked));
    expect_close(&H, 1002, "client frame is not masked");
    expect_eof(&H); /* no wait for an answer after a protocol error */
    expect_on_close(&H, 1002, "client frame is not masked");
    stop(&H);
    CHECK_INT_EQ(H.messages, 0);
}

TEST(conn_invalid_utf8_closes_1007)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    H.echo = true;
    start(&H);
    CFRAME(&b, WS_OP_TEXT, true, "\xC3\x28");
    send_frames(&H, &b);
    expect_close(&H, 1007, "text message is not valid UTF-8");
    expect_eof(&H);
    expect_on_close(&H, 1007, "text message is not valid UTF-8");
    stop(&H);
    CHECK_INT_EQ(H.messages, 0);
    sbuf_release(&b);
}

TEST(conn_oversize_message_closes_1009)
{
    struct sbuf b = SBUF_INIT(1 << 10);
    uint8_t head[WS_FRAME_HEADER_MAX];

    H.echo = true;
    H.opts.max_message = 1024;
    start(&H);
    /* Only the header of a 2000-byte message: the limit is seen before the payload. */
    send_all(&H, head, ws_frame_header(head, WS_OP_BINARY, true, 2000, test_mask));
    expect_close(&H, 1009, "message over 1024 bytes");
    expect_eof(&H);
    expect_on_close(&H, 1009, "message over 1024 bytes");
    stop(&H);
    CHECK_INT_EQ(H.messages, 0);
    sbuf_release(&b);
}

static void flood_job(void *arg)
{
    struct harness *h = arg;
    static char chunk[4096];

    for (h->sent = 0; h->sent < 100000; h->sent++) {
        h->send_rc = http_ws_send(h->ws, false, (struct slice){chunk, sizeof(chunk)});
        if (h->send_rc < 0)
            break;
    }
    bump(h, &h->jobs);
}

TEST(conn_slow_reader_gets_1008)
{
    const char *why = "send buffer over 65536 bytes: client too slow";
    struct sbuf b = SBUF_INIT(1 << 10);
    struct ws_event ev;
    int got = 0;

    H.opts.max_send_buffer = 64 << 10;
    start(&H);
    run_job(&H, flood_job); /* the test reads nothing meanwhile */
    CHECK_INT_EQ(H.send_rc, ERR_LIMIT);
    CHECK(H.sent > 0);
    while (next_event(&H, &ev) == 0 && ev.type == WS_EV_MESSAGE) {
        CHECK_UINT_EQ(ev.data.len, 4096);
        got++;
    }
    CHECK_INT_EQ(ev.type, WS_EV_CLOSE);
    CHECK_INT_EQ(ev.code, 1008);
    CHECK_MEM_EQ(ev.data.ptr, ev.data.len, why, strlen(why));
    CHECK(got < H.sent); /* the backlog was dropped, the close went out right away */
    close_frame(&b, 1008, "");
    send_frames(&H, &b);
    expect_eof(&H);
    expect_on_close(&H, 1008, why);
    stop(&H);
    sbuf_release(&b);
}

TEST(conn_peer_vanishing_is_1006)
{
    start(&H);
    close(H.cfd);
    H.cfd = -1;
    expect_on_close(&H, 1006, "");
    stop(&H);
}

TEST(conn_peer_vanishing_mid_message_is_1006)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    H.echo = true;
    start(&H);
    CFRAME(&b, WS_OP_TEXT, false, "half a mess");
    send_frames(&H, &b);
    shutdown(H.cfd, SHUT_WR);
    expect_on_close(&H, 1006, "");
    expect_eof(&H);
    stop(&H);
    CHECK_INT_EQ(H.messages, 0);
    sbuf_release(&b);
}

TEST(conn_extra_bytes_come_first)
{
    struct sbuf extra = SBUF_INIT(1 << 10);
    struct sbuf b = SBUF_INIT(1 << 10);

    CFRAME(&extra, WS_OP_TEXT, true, "early");
    CFRAME(&extra, WS_OP_TEXT, false, "split ");
    H.extra = sbuf_slice(&extra);
    H.echo = true;
    start(&H);
    CFRAME(&b, WS_OP_CONT, true, "message");
    send_frames(&H, &b);
    expect_event(&H, WS_EV_MESSAGE, "early");
    expect_event(&H, WS_EV_MESSAGE, "split message");
    client_close(&H, 1000);
    stop(&H);
    sbuf_release(&extra);
    sbuf_release(&b);
}

TEST(conn_close_inside_on_message)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    H.echo = true;
    H.quit_closes = true;
    start(&H);
    CFRAME(&b, WS_OP_TEXT, true, "a");
    CFRAME(&b, WS_OP_TEXT, true, "quit");
    CFRAME(&b, WS_OP_TEXT, true, "b"); /* same write: must not reach on_message */
    send_frames(&H, &b);
    expect_event(&H, WS_EV_MESSAGE, "a");
    expect_event(&H, WS_EV_MESSAGE, "bye");
    expect_close(&H, 4000, "quit");
    close_frame(&b, 4000, "");
    send_frames(&H, &b);
    expect_eof(&H);
    expect_on_close(&H, 4000, "quit");
    stop(&H);
    CHECK_INT_EQ(H.messages, 2);
    sbuf_release(&b);
}

TEST(conn_server_pings_and_closes_without_pong)
{
    struct sbuf b = SBUF_INIT(1 << 10);

    H.opts.ping_interval_ms = 300; /* a local pong takes microseconds */
    start(&H);
    expect_event(&H, WS_EV_PING, "");
    CFRAME(&b, WS_OP_PONG, true, "");
    send_frames(&H, &b);
    expect_event(&H, WS_EV_PING, ""); /* answered: the connection lives on */
    expect_close(&H, 1011, "no pong within 300 ms");
    expect_eof(&H);
    expect_on_close(&H, 1011, "no pong within 300 ms");
    stop(&H);
    sbuf_release(&b);
}
