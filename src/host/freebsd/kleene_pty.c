/* kleene-pty: run a program on a new pseudo-terminal and relay it over plain pipes
 * (FREEBSD-HOST.md §4.4; our own program in the role of the original's kleened_pty).
 *
 *   kleene-pty [-s ROWSxCOLS] PROGRAM [ARG...]
 *
 * kleened runs `jail -c` and `jexec` through it when a process asks for a tty: the program
 * gets the pty's slave as its controlling terminal on 0, 1 and 2; what arrives on our stdin
 * goes to the pty, what the pty prints goes to our stdout. Output newlines stay "\n" (ONLCR
 * off), as in the original. Exit status: the program's, or 128+N when signal N killed it
 * (the original said 1).
 * Differences from the original: the end of our stdin does not end the session (the
 * program may still be printing; the original quit there); an initial window size can be
 * given; SIGTERM/SIGINT hang the terminal up (the program gets SIGHUP), then after 5 s the
 * program is killed.
 * Portable POSIX (posix_openpt); it must not: keep any fd but 0-2 open in the program. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t quit_sig;

static void on_signal(int sig)
{
    quit_sig = sig;
}

static int die(const char *what)
{
    fprintf(stderr, "\nkleene-pty: %s: %s\n", what, strerror(errno));
    return 1;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 100);
            continue;
        }
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int status_code(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return 1;
}

int main(int argc, char **argv)
{
    int argi = 1;
    struct winsize ws = {0};
    if (argi + 1 < argc && !strcmp(argv[argi], "-s")) {
        unsigned r = 0, c = 0;
        if (sscanf(argv[argi + 1], "%ux%u", &r, &c) != 2 || r == 0 || c == 0 || r > 10000 ||
            c > 10000) {
            fprintf(stderr, "kleene-pty: -s wants ROWSxCOLS\n");
            return 2;
        }
        ws.ws_row = (unsigned short)r;
        ws.ws_col = (unsigned short)c;
        argi += 2;
    }
    if (argi >= argc) {
        fprintf(stderr, "usage: kleene-pty [-s ROWSxCOLS] PROGRAM [ARG...]\n");
        return 2;
    }
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        return die("opening a pseudo-terminal");
    fcntl(master, F_SETFD, FD_CLOEXEC);
    const char *slave_name = ptsname(master);
    if (!slave_name)
        return die("ptsname");
    char slave_path[256];
    snprintf(slave_path, sizeof(slave_path), "%s", slave_name);

    pid_t child = fork();
    if (child < 0)
        return die("fork");
    if (child == 0) {
        if (setsid() < 0)
            _exit(die("setsid"));
        int slave = open(slave_path, O_RDWR);
        if (slave < 0)
            _exit(die("opening the terminal"));
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
            _exit(die("TIOCSCTTY"));
        struct termios t;
        if (tcgetattr(slave, &t) == 0) {
            t.c_oflag &= ~(tcflag_t)ONLCR;
            t.c_cc[VMIN] = 1;
            t.c_cc[VTIME] = 0;
            tcsetattr(slave, TCSANOW, &t); /* not FLUSH: input may be queued already */
        }
        if (ws.ws_row)
            ioctl(slave, TIOCSWINSZ, &ws);
        for (int fd = 0; fd < 3; fd++)
            if (dup2(slave, fd) < 0)
                _exit(die("dup2"));
        if (slave > 2)
            close(slave);
        execv(argv[argi], argv + argi);
        _exit(die(argv[argi]) ? 127 : 127);
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    int in_fd = 0;
    char buf[16384];
    while (!quit_sig) {
        struct pollfd p[2] = {{in_fd, POLLIN, 0}, {master, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (in_fd >= 0 && p[0].revents) {
            ssize_t n = read(in_fd, buf, sizeof(buf));
            if (n > 0) {
                if (write_all(master, buf, (size_t)n) < 0)
                    break;
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                in_fd = -1; /* no more input; keep relaying the output */
            }
        }
        if (p[1].revents) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n > 0) {
                if (write_all(1, buf, (size_t)n) < 0)
                    break;
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                break; /* EIO: every holder of the slave side closed it */
            }
        }
    }
    close(master); /* a hang-up for the program's session */
    int st = 0;
    for (int waited = 0;; waited += 50) {
        pid_t w = waitpid(child, &st, WNOHANG);
        if (w == child)
            break;
        if (w < 0 && errno != EINTR)
            return 1;
        if (waited >= 5000) {
            kill(child, SIGKILL);
            waitpid(child, &st, 0);
            break;
        }
        struct timespec d = {0, 50 * 1000000L};
        nanosleep(&d, NULL);
    }
    return status_code(st);
}
