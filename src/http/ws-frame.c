/*
 * RFC 6455 frames: an incremental parser for what a peer sends and a writer for what we send.
 * Nothing here touches a socket, so the unit tests and the fuzzer drive it directly.
 *
 * The parser reads a frame header byte by byte (it is at most 14 bytes), checks every rule it
 * can as soon as the bytes for it are there (the first two bytes say nearly everything), and
 * checks the message size limit against the header before it buffers any payload. Data
 * payloads are unmasked straight into the message buffer; control payloads (at most 125
 * bytes) into a small fixed buffer, so a ping inside a fragmented message does not disturb it.
 */
#include <stdio.h>

#include "http/http-int.h"

#define WS_DEFAULT_MAX_MESSAGE ((size_t)1 << 20)
#define WS_KEEP_MSG_BUFFER     ((size_t)64 << 10) /* bigger message buffers are freed after use */

void ws_parser_init(struct ws_parser *p, size_t max_message, bool client)
{
    memset(p, 0, sizeof(*p));
    p->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
    p->client = client;
    sbuf_init(&p->msg, p->max_message);
}

void ws_parser_release(struct ws_parser *p)
{
    sbuf_release(&p->msg);
}

/* Makes the parser fail for good with close <code>; the event is returned from now on.
 * Returns ERR_INVALID. */
static int fail(struct ws_parser *p, int code, const char *fmt, ...) APP_PRINTF(3, 4);
static int fail(struct ws_parser *p, int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(p->errmsg))
        n = (int)sizeof(p->errmsg) - 1;
    p->failed = true;
    p->err = (struct ws_event){.type = WS_EV_ERROR, .code = code, .data = {p->errmsg, (size_t)n}};
    return ERR_INVALID;
}

static bool is_control(unsigned op)
{
    return (op & 0x8) != 0;
}

static unsigned head_opcode(const struct ws_parser *p)
{
    return p->head[0] & 0x0F;
}

/* Bytes the whole header takes, known once its first two bytes are in. */
static size_t head_need(const struct ws_parser *p)
{
    size_t n = 2;
    unsigned len7;

    if (p->head_len < 2)
        return 2;
    len7 = p->head[1] & 0x7F;
    n += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    return n + ((p->head[1] & 0x80) ? 4 : 0);
}

/* The rules the first two bytes decide: reserved bits, opcode, masking, control frame size
 * and fragmentation, and whether a data frame fits the message in progress. */
static int check_start(struct ws_parser *p)
{
    unsigned op = head_opcode(p);
    bool fin = (p->head[0] & 0x80) != 0;
    bool masked = (p->head[1] & 0x80) != 0;

    if (p->head[0] & 0x70)
        return fail(p, WS_CLOSE_PROTOCOL, "reserved bits set without an extension");
    if (op > WS_OP_BINARY && op < WS_OP_CLOSE)
        return fail(p, WS_CLOSE_PROTOCOL, "unknown data opcode 0x%x", op);
    if (op > WS_OP_PONG)
        return fail(p, WS_CLOSE_PROTOCOL, "unknown control opcode 0x%x", op);
    if (masked != p->client)
        return fail(p, WS_CLOSE_PROTOCOL,
                    p->client ? "client frame is not masked" : "server frame is masked");
    if (is_control(op) && !fin)
        return fail(p, WS_CLOSE_PROTOCOL, "control frame is fragmented");
    if (is_control(op) && (p->head[1] & 0x7F) > WS_MAX_CONTROL)
        return fail(p, WS_CLOSE_PROTOCOL, "control frame over %d bytes", WS_MAX_CONTROL);
    if (op == WS_OP_CONT && !p->in_message)
        return fail(p, WS_CLOSE_PROTOCOL, "continuation frame without a message to continue");
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->in_message)
        return fail(p, WS_CLOSE_PROTOCOL, "new data frame inside a fragmented message");
    if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
        p->in_message = true;
        p->msg_text = op == WS_OP_TEXT;
    }
    return 0;
}

static uint64_t read_be(const uint8_t *b, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* The header is complete: decode the length (minimal encodings only), the mask, and check
 * the message size limit before any of the payload is buffered. */
static int start_payload(struct ws_parser *p)
{
    unsigned len7 = p->head[1] & 0x7F;
    size_t at = 2;

    p->len = len7;
    if (len7 == 126) {
        p->len = read_be(p->head + 2, 2);
        at = 4;
        if (p->len < 126)
            return fail(p, WS_CLOSE_PROTOCOL, "16-bit length %" PRIu64 " is not minimal", p->len);
    } else if (len7 == 127) {
        p->len = read_be(p->head + 2, 8);
        at = 10;
        if (p->len >> 63)
            return fail(p, WS_CLOSE_PROTOCOL, "64-bit length has its top bit set");
        if (p->len <= 0xFFFF)
            return fail(p, WS_CLOSE_PROTOCOL, "64-bit length %" PRIu64 " is not minimal", p->len);
    }
    if (p->head[1] & 0x80)
        memcpy(p->mask, p->head + at, 4);
    else
        memset(p->mask, 0, 4);
    p->got = 0;
    if (!is_control(head_opcode(p)) && p->len > p->max_message - p->msg.len)
        return fail(p, WS_CLOSE_TOO_BIG, "message over %zu bytes", p->max_message);
    return 0;
}

static void unmask(const struct ws_parser *p, uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] ^ p->mask[(p->got + i) & 3];
}

/* Reads what <in> holds of the current payload. */
static size_t take_payload(struct ws_parser *p, const uint8_t *in, size_t len)
{
    uint64_t left = p->len - p->got;
    size_t n = left < len ? (size_t)left : len;
    uint8_t *dst;

    if (is_control(head_opcode(p))) {
        dst = p->ctl + p->got;
    } else {
        dst = (uint8_t *)sbuf_reserve(&p->msg, n);
        if (NEVER(dst == NULL)) { /* start_payload() checked the limit */
            fail(p, WS_CLOSE_TOO_BIG, "message over %zu bytes", p->max_message);
            return 0;
        }
    }
    unmask(p, dst, in, n);
    if (!is_control(head_opcode(p)))
        sbuf_commit(&p->msg, n);
    p->got += n;
    return n;
}

static int close_event(struct ws_parser *p, struct ws_event *ev)
{
    struct slice reason;
    int code;

    if (p->len == 0) {
        *ev = (struct ws_event){.type = WS_EV_CLOSE, .code = WS_CLOSE_NO_STATUS};
        return 0;
    }
    if (p->len == 1)
        return fail(p, WS_CLOSE_PROTOCOL, "close payload of 1 byte");
    code = (int)read_be(p->ctl, 2);
    if (!ws_close_code_valid(code))
        return fail(p, WS_CLOSE_PROTOCOL, "close code %d is not allowed", code);
    reason = (struct slice){(const char *)p->ctl + 2, (size_t)p->len - 2};
    if (!ws_utf8_valid(reason))
        return fail(p, WS_CLOSE_BAD_DATA, "close reason is not valid UTF-8");
    *ev = (struct ws_event){.type = WS_EV_CLOSE, .code = code, .data = reason};
    return 0;
}

static int message_event(struct ws_parser *p, struct ws_event *ev)
{
    struct slice data = sbuf_slice(&p->msg);

    p->in_message = false;
    if (p->msg_text && !ws_utf8_valid(data))
        return fail(p, WS_CLOSE_BAD_DATA, "text message is not valid UTF-8");
    *ev = (struct ws_event){.type = WS_EV_MESSAGE, .text = p->msg_text, .data = data};
    p->msg_delivered = true;
    return 0;
}

/* The current frame is complete: turn it into an event (or none, for a fragment). */
static void end_frame(struct ws_parser *p, struct ws_event *ev)
{
    unsigned op = head_opcode(p);
    struct slice ctl = {(const char *)p->ctl, (size_t)p->len};

    p->head_len = 0;
    if (op == WS_OP_PING)
        *ev = (struct ws_event){.type = WS_EV_PING, .data = ctl};
    else if (op == WS_OP_PONG)
        *ev = (struct ws_event){.type = WS_EV_PONG, .data = ctl};
    else if (op == WS_OP_CLOSE)
        (void)close_event(p, ev);
    else if (p->head[0] & 0x80)
        (void)message_event(p, ev);
}

/* Reads header bytes; returns how many it took. */
static size_t take_head(struct ws_parser *p, const uint8_t *in, size_t len)
{
    size_t used = 0;

    while (used < len && p->head_len < head_need(p)) {
        p->head[p->head_len++] = in[used++];
        if (p->head_len == 2 && check_start(p) < 0)
            return used;
    }
    if (p->head_len == head_need(p))
        (void)start_payload(p);
    return used;
}

static bool in_payload(const struct ws_parser *p)
{
    return p->head_len >= 2 && p->head_len == head_need(p);
}

size_t ws_parser_feed(struct ws_parser *p, const void *data, size_t len, struct ws_event *ev)
{
    const uint8_t *in = data;
    size_t used = 0;

    *ev = (struct ws_event){.type = WS_EV_NONE};
    if (p->msg_delivered) {
        p->msg_delivered = false;
        if (p->msg.cap > WS_KEEP_MSG_BUFFER)
            sbuf_release(&p->msg);
        else
            sbuf_reset(&p->msg);
    }
    while (!p->failed) {
        if (in_payload(p) && p->got == p->len) {
            end_frame(p, ev);
            if (ev->type != WS_EV_NONE)
                break;
        } else if (used == len) {
            break;
        } else if (in_payload(p)) {
            used += take_payload(p, in + used, len - used);
        } else {
            used += take_head(p, in + used, len - used);
        }
    }
    if (p->failed)
        *ev = p->err;
    return used;
}

bool ws_utf8_valid(struct slice s)
{
    const uint8_t *b = (const uint8_t *)s.ptr;
    size_t i = 0;

    while (i < s.len) {
        uint32_t c = b[i], min;
        size_t n;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            n = 1, c &= 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            n = 2, c &= 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            n = 3, c &= 0x07, min = 0x10000;
        else
            return false;
        if (s.len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((b[i + k] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (b[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

bool ws_close_code_valid(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode op, bool fin, uint64_t len,
                       const uint8_t *mask)
{
    size_t n = 2;

    out[0] = (uint8_t)((fin ? 0x80 : 0) | (unsigned)op);
    out[1] = mask ? 0x80 : 0;
    if (len < 126) {
        out[1] |= (uint8_t)len;
    } else if (len <= 0xFFFF) {
        out[1] |= 126;
        for (int i = 1; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    } else {
        out[1] |= 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_frame_write(struct sbuf *out, enum ws_opcode op, bool fin, struct slice payload,
                    const uint8_t *mask)
{
    uint8_t head[WS_FRAME_HEADER_MAX];
    char *dst;

    sbuf_put(out, head, ws_frame_header(head, op, fin, payload.len, mask));
    if (payload.len == 0 || (dst = sbuf_reserve(out, payload.len)) == NULL)
        return;
    for (size_t i = 0; i < payload.len; i++)
        dst[i] = (char)(payload.ptr[i] ^ (mask ? mask[i & 3] : 0));
    sbuf_commit(out, payload.len);
}

size_t ws_close_payload(uint8_t out[WS_MAX_CONTROL], int code, struct slice reason)
{
    size_t n = reason.len;

    if (code == 0)
        return 0;
    if (n > WS_MAX_REASON) {
        n = WS_MAX_REASON;
        while (n > 0 && ((uint8_t)reason.ptr[n] & 0xC0) == 0x80)
            n--; /* reason.ptr[n] would continue a character cut at n */
    }
    out[0] = (uint8_t)((unsigned)code >> 8);
    out[1] = (uint8_t)code;
    if (n)
        memcpy(out + 2, reason.ptr, n);
    return n + 2;
}
