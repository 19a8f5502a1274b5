/* Reply helpers for handlers: JSON bodies, {"message"} errors, {"id"} bodies, 422 bodies. */
#include "api/api.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void api_response_clear(api_response *res)
{
    if (res->json)
        json_decref(res->json);
    free(res->text);
    if (res->stream_free && res->stream_ctx)
        res->stream_free(res->stream_ctx);
    if (res->hijack_free && res->hijack_ctx)
        res->hijack_free(res->hijack_ctx);
    res->hijack = NULL;
    res->hijack_ctx = NULL;
    res->hijack_free = NULL;
    res->stream = NULL;
    res->stream_ctx = NULL;
    res->stream_free = NULL;
    res->json = NULL;
    res->text = NULL;
    res->content_type = NULL;
    res->status = 0;
}

void api_reply_json(api_response *res, int status, json_t *json)
{
    api_response_clear(res);
    res->status = status;
    res->json = json;
}

void api_reply_message(api_response *res, int status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_reply_json(res, status, json_pack("{s:s}", "message", msg));
}

void api_reply_id(api_response *res, int status, const char *id)
{
    api_reply_json(res, status, json_pack("{s:s}", "id", id));
}

void api_reply_empty(api_response *res, int status)
{
    api_response_clear(res);
    res->status = status;
}

void api_reply_invalid(api_response *res, json_t *errors)
{
    api_reply_json(res, 422, json_pack("{s:o}", "errors", errors));
}

void api_reply_invalid_one(api_response *res, const char *pointer, const char *detail)
{
    json_t *e = json_pack("{s:s, s:{s:s}, s:s}", "title", "Invalid value", "source", "pointer",
                          pointer, "detail", detail);
    api_reply_invalid(res, json_pack("[o]", e));
}

void api_reply_stream(api_response *res, int status, const char *content_type, api_stream_fn fn,
                      void *ctx, void (*free_fn)(void *ctx))
{
    api_response_clear(res);
    res->status = status;
    res->content_type = content_type;
    res->stream = fn;
    res->stream_ctx = ctx;
    res->stream_free = free_fn;
}

void api_reply_hijack(api_response *res, const char *content_type, api_hijack_fn fn, void *ctx,
                      void (*free_fn)(void *ctx))
{
    api_response_clear(res);
    res->status = 200;
    res->content_type = content_type;
    res->hijack = fn;
    res->hijack_ctx = ctx;
    res->hijack_free = free_fn;
}

void api_response_free(api_response *res)
{
    api_response_clear(res);
    free(res->headers);
    res->headers = NULL;
}
