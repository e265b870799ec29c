/*
 * A 32-bit (ia32) reader that names a decoy in the register the native ABI reads the fd
 * from: it watches ./watched with one group and ./decoy with another (IN_CREATE, wd 1
 * each), prints the two fds and "ready", waits for a byte on stdin, then reads the real
 * group's queue with int $0x80: ebx names the real group's fd, as the ia32 ABI wants, and
 * edi, which a native read(2) would take its fd from, names the decoy's. It prints how many
 * bytes the read returned, then waits for stdin to end (its groups stay open).
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

/* read(fd, buf, len) with edi set to decoy. */
static long read_with_edi(long fd, char *buf, long len, long decoy)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(NR32_read), "b"(fd), "c"(buf), "d"(len), "D"(decoy) : "memory");
	return r;
}

static char buf[4096];

static void number(long n)
{
	char out[16];
	int i = 15;
	unsigned long u = n < 0 ? -n : n;

	out[i] = ' ';
	do {
		out[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (n < 0)
		out[--i] = '-';
	sys3(NR32_write, 1, (long)&out[i], 16 - i);
}

void _start(void)
{
	char go;
	long real, decoy, n;

	real = sys3(NR32_inotify_init1, 0, 0, 0);
	decoy = sys3(NR32_inotify_init1, 0, 0, 0);
	if (real < 0 || decoy < 0 || sys3(NR32_inotify_add_watch, real, (long)"watched", IN_CREATE) != 1 ||
	    sys3(NR32_inotify_add_watch, decoy, (long)"decoy", IN_CREATE) != 1)
		sys3(NR32_exit, 2, 0, 0);
	number(real);
	number(decoy);
	sys3(NR32_write, 1, (long)"ready\n", 6);
	sys3(NR32_read, 0, (long)&go, 1);
	n = read_with_edi(real, buf, sizeof(buf), decoy);
	number(n);
	sys3(NR32_write, 1, (long)"\n", 1);
	while (sys3(NR32_read, 0, (long)&go, 1) > 0)
		;
	sys3(NR32_exit, n < 0, 0, 0);
}
