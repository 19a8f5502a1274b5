/* `klee network ...`: create, ls, inspect, rm, prune, connect, disconnect (KLEE-CLI.md §5
 * network; API.md §6 Networks). Builds requests and chooses what to print per status; the
 * shared printing and connection handling is in common.c. */
#include "cli/cli.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <string.h>
#include <strings.h>

/* click's BOOL: 1, 0, or -1 for a value it does not accept. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = {"1", "true", "t", "yes", "y", "on"};
    static const char *const no[] = {"0", "false", "f", "no", "n", "off"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static const cli_option create_options[] = {
    {"type", 't', "TEXT",
     "What kind of network should be created. Possible values are 'bridge', 'loopback', and "
     "'custom'.  [default: loopback]",
     NULL},
    {"interface", 'i', "TEXT",
     "Name of the interface used on the host for the network. If not set the interface name "
     "is set to 'kleened' postfixed with an integer. If type is set to 'custom' the value "
     "should be an existing interface.",
     NULL},
    {"subnet", 0, "TEXT", "Subnet in CIDR format for the network", NULL},
    {"subnet6", 0, "TEXT", "IPv6 subnet in CIDR format for the network", NULL},
    {"gw", 0, "TEXT",
     "Only for bridge networks. The default IPv4 router that is added to 'vnet' containers. "
     "'auto' uses the first IP of the subnet (put on the bridge); '' adds no gateway.  "
     "[default: auto]",
     NULL},
    {"gw6", 0, "TEXT", "Like --gw but for IPv6.  [default: auto]", NULL},
    {"nat", 0, "BOOLEAN",
     "Whether or not to use NAT for the network's outgoing traffic.  "
     "[default: true]",
     NULL},
    {"nat-if", 0, "TEXT",
     "Specify which interface to NAT the IPv4 network traffic to. Defaults to the host's "
     "gateway interface. Ignored if no-nat is set.",
     NULL},
    {"icc", 0, "BOOLEAN",
     "Whether or not to enable connectivity between containers within the same network.  "
     "[default: true]",
     NULL},
    {"internal", 0, NULL,
     "Whether or not the network is internal, i.e., not allowing outgoing "
     "upstream traffic",
     NULL},
    CLI_LABEL_OPTION('l'),
    {0},
};

static int network_create(cli_ctx *ctx, const cli_args *a)
{
    static const char *const prog = "klee network create";
    const char *type = cli_value(a, "type") ? cli_value(a, "type") : "loopback";
    int nat = 1, icc = 1;
    const char *v;
    if ((v = cli_value(a, "nat")) && (nat = parse_bool(v)) < 0)
        return cli_usage_error(prog, "NETWORK_NAME",
                               "Invalid value for '--nat': '%s' is not a valid boolean.", v);
    if ((v = cli_value(a, "icc")) && (icc = parse_bool(v)) < 0)
        return cli_usage_error(prog, "NETWORK_NAME",
                               "Invalid value for '--icc': '%s' is not a valid boolean.", v);
    const char *gws[2] = {cli_value(a, "gw"), cli_value(a, "gw6")};
    for (int i = 0; i < 2; i++) {
        if (strcmp(type, "bridge") != 0)
            gws[i] = "";
        else if (!gws[i] || strcmp(gws[i], "auto") == 0)
            gws[i] = "<auto>";
    }
    const char *nat_value =
        !nat ? "" : (cli_value(a, "nat-if") ? cli_value(a, "nat-if") : "<host-gateway>");
    const char *ifname = cli_value(a, "interface");
    const char *subnet = cli_value(a, "subnet");
    const char *subnet6 = cli_value(a, "subnet6");
    _cleanup_json_ json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:s, s:s, s:s}", "name", a->pos[0], "type",
                  type, "gateway", gws[0], "gateway6", gws[1], "icc", icc, "interface",
                  ifname ? ifname : "", "internal", cli_flag(a, "internal"), "nat", nat_value,
                  "subnet", subnet ? subnet : "", "subnet6", subnet6 ? subnet6 : "");
    if (!body)
        return cli_usage_error(prog, "NETWORK_NAME", "an argument is not valid UTF-8");
    /* labels: ours, sent only when given */
    int rc = cli_add_labels(a, prog, "NETWORK_NAME", body);
    if (rc != 0)
        return rc;
    return cli_call(ctx, "POST", "/networks/create", body, 201, cli_print_id);
}

static const render_column network_columns[] = {
    {"ID", "36", RENDER_LEFT, 0, 0},           /* cyan */
    {"NAME", "1;38;5;122", RENDER_LEFT, 0, 0}, /* bold aquamarine1 */
    {"TYPE", "38;5;122", RENDER_LEFT, 0, 0},   /* aquamarine1 */
    {"SUBNET", "97", RENDER_LEFT, 0, 0},       /* bright_white */
};

static void network_row(const json_t *v, double now, char **cells)
{
    (void)now;
    cells[0] = xstrdup(jx_str(v, "id", ""));
    cells[1] = xstrdup(jx_str(v, "name", ""));
    cells[2] = xstrdup(jx_str(v, "type", ""));
    cells[3] = xstrdup(jx_str(v, "subnet", ""));
}

static const char *const network_fields[] = {"ID", "Name", "Type", "Subnet"};
static const cli_option network_ls_options[] = {CLI_LS_OPTIONS, {0}};

static int network_ls(cli_ctx *ctx, const cli_args *a)
{
    cli_listing l = {network_columns,
                     KL_ARRAY_SIZE(network_columns),
                     KL_ARRAY_SIZE(network_columns),
                     network_fields,
                     "id",
                     network_row};
    return cli_list(ctx, a, "/networks/list", &l);
}

static int network_inspect(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_free_ char *name = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *path = xasprintf("/networks/%s/inspect", name);
    return cli_call(ctx, "GET", path, NULL, 200, cli_print_json);
}

static json_t *get_json(cli_ctx *ctx, const char *path, long *status)
{
    http_response resp = HTTP_RESPONSE_INIT;
    *status = cli_request(ctx, "GET", path, NULL, &resp);
    json_t *j = *status == 200 ? cli_response_json(&resp) : NULL;
    http_response_free(&resp);
    return j;
}

/* Ours: the running containers connected to network `ident`, as "name (id)" lines joined by
 * ", " (caller frees), or NULL when there are none or the network is unknown (the removal
 * then reports it). *failed is set when the daemon could not be asked. */
static char *running_connected(cli_ctx *ctx, const char *ident, bool *failed)
{
    *failed = false;
    _cleanup_free_ char *esc = cli_path_escape(ident);
    _cleanup_free_ char *path = xasprintf("/networks/%s/inspect", esc);
    long status;
    _cleanup_json_ json_t *net = get_json(ctx, path, &status);
    if (status < 0)
        *failed = true;
    json_t *eps = json_object_get(net, "network_endpoints");
    if (!json_array_size(eps))
        return NULL;
    _cleanup_json_ json_t *list = get_json(ctx, "/containers/list?all=false", &status);
    if (status < 0)
        *failed = true;
    kl_buf b = KL_BUF_INIT;
    size_t i, k;
    json_t *ep, *c;
    json_array_foreach(eps, i, ep)
    {
        const char *cid = jx_str(ep, "container_id", "");
        json_array_foreach(list, k, c)
        {
            if (strcmp(jx_str(c, "id", ""), cid) == 0 && jx_bool(c, "running", false))
                kl_buf_printf(&b, "%s%s (%s)", b.len ? ", " : "", jx_str(c, "name", ""), cid);
        }
    }
    if (!b.len)
        return NULL;
    kl_buf_append(&b, "", 1);
    return kl_buf_steal(&b);
}

static int network_rm(cli_ctx *ctx, const cli_args *a)
{
    /* One request per network; stop at the first failure (like the original). Ours: a
     * network with running containers is kept unless --force (the API disconnects them). */
    for (size_t i = 0; i < a->npos; i++) {
        if (!cli_flag(a, "force")) {
            bool failed;
            _cleanup_free_ char *busy = running_connected(ctx, a->pos[i], &failed);
            if (failed)
                return CLI_EXIT_FAILURE;
            if (busy) {
                cli_error(ctx,
                          "network %s has running containers connected: %s. Use --force to "
                          "disconnect them and remove the network.",
                          a->pos[i], busy);
                return CLI_EXIT_FAILURE;
            }
        }
        int rc = cli_remove_each(ctx, "/networks", a->pos + i, 1);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    return CLI_EXIT_OK;
}

static const cli_option rm_options[] = {
    {"force", 'f', NULL,
     "Remove the network also when running containers are connected to it (they are "
     "disconnected)",
     NULL},
    {0},
};

static const cli_option prune_options[] = {
    {"force", 'f', NULL, "Do not prompt for confirmation", NULL},
    {0},
};

static int network_prune(cli_ctx *ctx, const cli_args *a)
{
    return cli_prune(ctx, "/networks/prune", "WARNING! This will remove all unused networks.",
                     cli_flag(a, "force"));
}

static const cli_option connect_options[] = {
    {"ip", 0, "TEXT",
     "IPv4 address used for the container. If omitted, an unused ip is allocated from the "
     "IPv4 subnet of the network.",
     NULL},
    {"ip6", 0, "TEXT",
     "IPv6 address used for the container. If omitted, an unused ip is allocated from the "
     "IPv6 subnet of the network.",
     NULL},
    {0},
};

static int network_connect(cli_ctx *ctx, const cli_args *a)
{
    const char *ip = cli_value(a, "ip");
    const char *ip6 = cli_value(a, "ip6");
    _cleanup_json_ json_t *body =
        json_pack("{s:s, s:s, s:s, s:s}", "network", a->pos[0], "container", a->pos[1],
                  "ip_address", ip ? ip : "<auto>", "ip_address6", ip6 ? ip6 : "<auto>");
    return cli_call(ctx, "POST", "/networks/connect", body, 204, NULL);
}

static int network_disconnect(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_free_ char *net = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *ctr = cli_path_escape(a->pos[1]);
    _cleanup_free_ char *path = xasprintf("/networks/%s/disconnect/%s", net, ctr);
    return cli_call(ctx, "POST", path, NULL, 204, NULL);
}

static const cli_command cli_network_create = {
    .name = "create",
    .args_usage = "NETWORK_NAME",
    .short_help = "Create a new network.",
    .options = create_options,
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = network_create,
};

static const cli_command cli_network_ls = {
    .name = "ls",
    .short_help = "List networks",
    .options = network_ls_options,
    .max_args = 0,
    .run = network_ls,
};

static const cli_command cli_network_inspect = {
    .name = "inspect",
    .args_usage = "NETWORK",
    .short_help = "Display detailed information on a network.",
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = network_inspect,
};

static const cli_command cli_network_rm = {
    .name = "rm",
    .args_usage = "NETWORKS...",
    .short_help = "Remove one or more networks.",
    .help = "Remove one or more networks. A network with running containers connected is "
            "kept unless --force is given (the containers are then disconnected); stopped "
            "containers are disconnected.",
    .options = rm_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = network_rm,
};

static const cli_command cli_network_prune = {
    .name = "prune",
    .short_help = "Remove all unused networks, i.e., networks without connected containers.",
    .options = prune_options,
    .max_args = 0,
    .run = network_prune,
};

static const cli_command cli_network_connect = {
    .name = "connect",
    .args_usage = "NETWORK CONTAINER",
    .short_help = "Connect a container to a network.",
    .help = "Connect a container to a network. Running containers are connected at once.",
    .options = connect_options,
    .min_args = 2,
    .max_args = 2,
    .no_args_is_help = true,
    .run = network_connect,
};

static const cli_command cli_network_disconnect = {
    .name = "disconnect",
    .args_usage = "NETWORK CONTAINER",
    .short_help = "Disconnect a container from a network.",
    .help = "Disconnect a container from a network. Running containers are disconnected at "
            "once.",
    .min_args = 2,
    .max_args = 2,
    .no_args_is_help = true,
    .run = network_disconnect,
};

static const cli_command *const network_commands[] = {
    &cli_network_create, &cli_network_ls,      &cli_network_inspect,    &cli_network_rm,
    &cli_network_prune,  &cli_network_connect, &cli_network_disconnect, NULL,
};

const cli_group cli_network_group = {
    .name = "network",
    .short_help = "Manage networks",
    .commands = network_commands,
};
