/* Minimal Cortex-M startup for the QEMU mps2 boards (and a template for real
 * boards): vector table, .data copy, .bss clear, then main(). I/O and exit go
 * through Arm semihosting (bkpt 0xab), which QEMU implements. */
#include <stddef.h>
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void hwnas_semihost_exit(int ok);

void Reset_Handler(void) {
  uint32_t* src = &_sidata;
  for (uint32_t* dst = &_sdata; dst < &_edata;) *dst++ = *src++;
  for (uint32_t* dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  hwnas_semihost_exit(main() == 0);
}

void Default_Handler(void) { hwnas_semihost_exit(0); }

__attribute__((section(".vectors"), used)) static const uintptr_t vectors[16] = {
    (uintptr_t)&_estack,
    (uintptr_t)Reset_Handler,
    (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,
    0,
    0,
    0,
    0,
    (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,
    0,
    (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler};

static int semihost_call(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void hwnas_semihost_write(const char* text) { semihost_call(0x04, text); /* SYS_WRITE0 */ }

void hwnas_semihost_exit(int ok) {
  /* SYS_EXIT with ADP_Stopped_ApplicationExit (0) or RunTimeError (1). */
  semihost_call(0x18, (const void*)(uintptr_t)(ok ? 0x20026 : 0x20023));
  for (;;) {
  }
}

/* GCC may emit calls to these for struct copies and zeroing; their own loops
 * must not be turned back into calls to themselves. */
#define HWNAS_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
HWNAS_NO_LIBCALL void* memcpy(void* dst, const void* src, size_t n) {
  uint8_t* d = (uint8_t*)dst;
  const uint8_t* s = (const uint8_t*)src;
  while (n--) *d++ = *s++;
  return dst;
}
HWNAS_NO_LIBCALL void* memset(void* dst, int value, size_t n) {
  uint8_t* d = (uint8_t*)dst;
  while (n--) *d++ = (uint8_t)value;
  return dst;
}
