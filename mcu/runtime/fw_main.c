/* Firmware test harness: runs model_infer on the samples in fw_samples.h and
 * prints, over semihosting, each output (hex), the instructions it took (the
 * CMSDK APB TIMER0 ticks; with QEMU -icount shift=10 one instruction is 25.6
 * ticks), and the stack high-water mark of the call. Built with
 * -DHWNAS_FW_EMPTY it does everything but call the model: the baseline for
 * flash and SRAM. */
#include <stdint.h>

#include "fw_samples.h"
#include "model.h"

void hwnas_semihost_write(const char* text);
extern uint32_t _ebss, _estack;

#define TIMER0_CTRL (*(volatile uint32_t*)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t*)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t*)0x40000008u)
#define STACK_PAINT 0xA5A5A5A5u

static char line[64 + 4 * MODEL_OUTPUT_SIZE];

static char* put_str(char* p, const char* s) {
  while (*s) *p++ = *s++;
  return p;
}
static char* put_uint(char* p, uint32_t v) {
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = digits[--n];
  return p;
}

static uint32_t current_sp(void) {
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

int main(void) {
  static int8_t output[MODEL_OUTPUT_SIZE];
  /* Paint the free stack: everything below this frame. */
  const uint32_t sp = current_sp();
  for (volatile uint32_t* w = &_ebss; (uint32_t)w < sp; ++w) *w = STACK_PAINT;
  TIMER0_CTRL = 0;
  TIMER0_RELOAD = 0xFFFFFFFFu;
  TIMER0_VALUE = 0xFFFFFFFFu;
  TIMER0_CTRL = 1;
  for (int s = 0; s < FW_NUM_SAMPLES; ++s) {
    const uint32_t before = TIMER0_VALUE;
#ifndef HWNAS_FW_EMPTY
    model_infer(fw_samples[s], output);
#else
    /* Through a pointer the compiler cannot see into: else it folds the
     * one byte read into a constant and drops the samples, and the model
     * firmware's flash (minus this one's) would count them. */
    const int8_t* volatile sample = fw_samples[s];
    output[0] = sample[0];
#endif
    const uint32_t after = TIMER0_VALUE;
    char* p = put_str(line, "OUT ");
    p = put_uint(p, (uint32_t)s);
    *p++ = ' ';
    for (int i = 0; i < MODEL_OUTPUT_SIZE; ++i) {
      static const char hex[] = "0123456789abcdef";
      *p++ = hex[((uint8_t)output[i]) >> 4];
      *p++ = hex[((uint8_t)output[i]) & 15];
    }
    p = put_str(p, " TICKS ");
    p = put_uint(p, before - after);
    p = put_str(p, "\n");
    *p = 0;
    hwnas_semihost_write(line);
  }
  const volatile uint32_t* w = &_ebss;
  while ((uint32_t)w < sp && *w == STACK_PAINT) ++w;
  char* p = put_str(line, "STACK ");
  p = put_uint(p, (uint32_t)w < sp ? sp - (uint32_t)w : 0);
  p = put_str(p, "\n");
  *p = 0;
  hwnas_semihost_write(line);
  return 0;
}
