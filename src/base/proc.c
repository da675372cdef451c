/* Child processes: one way to start a program that slipway supervises and may kill whole. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>

#include "base/base.h"

int proc_spawn(const struct proc_spec *s, pid_t *pid, struct err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int rc;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < 3; i++) {
        if (s->fds[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, s->fds[i], i);
        else
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    /* Descriptors another thread opens without O_CLOEXEC at this moment stay ours. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    rc = posix_spawn(pid, s->path, &fa, &attr, (char *const *)s->argv, (char *const *)s->env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return err_set(err, err_from_errno(rc), "cannot start %s: %s", s->path, strerror(rc));
    return 0;
}
