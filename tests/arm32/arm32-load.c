/*
 * A 32-bit arm (EABI) program whose syscalls are known, for the compat ABI of an arm64
 * kernel: `arm32-load GETPPID DUP` makes GETPPID getppid calls and DUP dup(-1) calls
 * (each fails with EBADF), then exits with status 3.
 *
 * Built static by tests/build.rs with arm-linux-gnueabihf-gcc when the tests are built
 * for arm64. Every counted call is a raw syscall(2) of a number the C library's own
 * start-up does not make.
 */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	long getppid = atol(argv[1]), dup = atol(argv[2]);
	for (long i = 0; i < getppid; i++)
		syscall(SYS_getppid);
	for (long i = 0; i < dup; i++)
		syscall(SYS_dup, -1);
	return 3;
}
