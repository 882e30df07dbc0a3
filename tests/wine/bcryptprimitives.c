/* Test-only stand-in for bcryptprimitives.dll, which wine 8 does not provide and Rust's standard
 * library imports (ProcessPrng, its source of random bytes on Windows 10 and later). Built with
 * mingw-w64 by tests/windows.rs next to tlsdiag.exe in a temporary directory, for the wine run
 * only; never shipped: real Windows has the system DLL.
 * ProcessPrng is implemented over RtlGenRandom (advapi32's SystemFunction036), which wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
