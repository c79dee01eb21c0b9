#include <stdio.h>
#include "greet.h"

const char *greet_version(void) { return "1.0"; }

void greet(const char *who) { printf("hello, %s (libgreet %s)\n", who, greet_version()); }

