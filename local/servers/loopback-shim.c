/*
 * LD_PRELOAD shim for native local servers without a listen-host option (DynamoDB Local runs
 * Jetty inside the JVM, and no JVM flag sets a default bind address). Compiled with `cc` on first
 * use into .tributary/cache/. It does two things:
 * 1. bind(): a TCP socket bound to the wildcard address (0.0.0.0, or :: ) is bound to loopback
 *    instead: 127.0.0.1, ::1 for IPv6-only sockets, ::ffff:127.0.0.1 for dual-stack sockets (so
 *    IPv4 clients of 127.0.0.1 still reach it). Specific addresses and UDP are left alone.
 * 2. constructor: when TRIBUTARY_PARENT_PID is set, asks the kernel for SIGTERM when the launching
 *    process dies (PR_SET_PDEATHSIG, which also fires on SIGKILL of the launcher), and exits at
 *    once if the launcher is already gone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static int is_tcp(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

int bind(int fd, const struct sockaddr *addr, socklen_t addrlen) {
  static bind_fn real_bind;
  if (real_bind == NULL) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
  if (addr != NULL && addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in) && is_tcp(fd)) {
    struct sockaddr_in in4;
    memcpy(&in4, addr, sizeof in4);
    if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
      in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
    }
  } else if (addr != NULL && addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6) &&
             is_tcp(fd)) {
    struct sockaddr_in6 in6;
    memcpy(&in6, addr, sizeof in6);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
      int v6only = 0;
      socklen_t len = sizeof v6only;
      getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len);
      if (v6only) {
        in6.sin6_addr = in6addr_loopback;
      } else {
        static const unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
        memcpy(&in6.sin6_addr, mapped, sizeof mapped);
      }
      return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
    }
  }
  return real_bind(fd, addr, addrlen);
}

__attribute__((constructor)) static void watch_launcher(void) {
  const char *value = getenv("TRIBUTARY_PARENT_PID");
  if (value == NULL) return;
  pid_t launcher = (pid_t)atol(value);
  /* Only the launched process itself watches; anything it spawns has a different parent. */
  unsetenv("TRIBUTARY_PARENT_PID");
  if (launcher <= 0) return;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  /* The launcher may have died before prctl took effect. */
  if (getppid() != launcher) _exit(143);
}
