/*
 * A 32-bit (ia32) inotify reader for the tracepoint backend's tests: no libc,
 * ia32 syscall numbers through int $0x80. It watches its working directory
 * for IN_CREATE, says "ready", waits for a byte on stdin, reads the queue with
 * one read(2) and prints how many bytes that read returned.
 * Built by the test with `cc -m32 -nostdlib -static -ffreestanding`.
 */
#define NR32_exit 1
#define NR32_read 3
#define NR32_write 4
#define NR32_inotify_add_watch 292
#define NR32_inotify_init1 332
#define IN_CREATE 0x100

static long sys3(long nr, long a, long b, long c)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

static char buf[4096];

void _start(void)
{
	char go, out[16];
	long fd, n;
	int i = 15;
	unsigned long u;

	fd = sys3(NR32_inotify_init1, 0, 0, 0);
	if (fd < 0 || sys3(NR32_inotify_add_watch, fd, (long)".", IN_CREATE) < 1)
		sys3(NR32_exit, 2, 0, 0);
	sys3(NR32_write, 1, (long)"ready\n", 6);
	sys3(NR32_read, 0, (long)&go, 1);
	n = sys3(NR32_read, fd, (long)buf, sizeof(buf));
	out[i] = '\n';
	u = n < 0 ? -n : n;
	do {
		out[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (n < 0)
		out[--i] = '-';
	sys3(NR32_write, 1, (long)&out[i], 16 - i);
	sys3(NR32_exit, n < 0, 0, 0);
}
