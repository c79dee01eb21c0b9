#include <stdio.h>
#include "greet.h"

const char *greet_version(void) { return "2.0"; }

void greet(const char *who) { printf("hello, %s (libgreet %s)\n", who, greet_version()); }

void greet_loudly(const char *who) { printf("HELLO, %s! (libgreet %s)\n", who, greet_version()); }
