#include <greet.h>

/* Needs libgreet 2.0: linked with -z now, so starting it against libgreet 1.0 fails at once. */
int main(void) {
  greet_loudly("world");
  return 0;
}
