# smchub behind HAProxy (Debian's haproxy, 2.6 or later) instead of
# configurable-http-proxy, serving TLS itself: HTTP/2 to browsers, plain HTTP on port 80
# redirected to https, the hub's own error page for a project server that stopped
# answering.
#
# The hub runs as root (ports 80 and 443, per-project Unix accounts); HAProxy reads its
# config, route maps and certificate as root, then runs as Debian's `haproxy` account.
# Each project is its own origin: wildcard DNS and a wildcard certificate for
# *.hub.example.org (with hub.example.org in it too).
# Run with:  smchub -f examples/haproxy_config.py

c = get_config()  # noqa: F821

c.JupyterHub.proxy_class = "haproxy"

# every interface, port 443; https because a certificate is given
c.JupyterHub.bind_url = "https://:443"
c.JupyterHub.subdomain_host = "https://hub.example.org"
# as for configurable-http-proxy: HAProxy serves them (a copy of both in one 0600 file
# in its state folder); a renewed certificate (certbot) is picked up within
# check_running_interval, without a restart
c.JupyterHub.ssl_cert = "/etc/letsencrypt/live/hub.example.org/fullchain.pem"
c.JupyterHub.ssl_key = "/etc/letsencrypt/live/hub.example.org/privkey.pem"

# http://hub.example.org/... -> https://hub.example.org/... (301; 308 for POST and the like)
c.HAProxyProxy.http_redirect_port = 80
# HTTP/2 is on by default (websockets included); turn it off for clients that need it
# c.HAProxyProxy.http2 = False

# open client connections HAProxy takes at most (an open websocket is one). The default,
# 25,000, is lowered to what the hard limit on open files allows (two per connection)
# unless the hub may raise it (root with CAP_SYS_RESOURCE); in a systemd unit, raise it
# with LimitNOFILE=
# c.HAProxyProxy.maxconn = 50_000

# an open websocket (kernel, terminal) with nothing on it is closed after a day
c.HAProxyProxy.tunnel_timeout = 86400

c.JupyterHub.db_url = "sqlite:////srv/smchub/jupyterhub.sqlite"
c.SMCHub.data_dir = "/srv/smchub/data"
c.Authenticator.admin_users = {"instructor"}
