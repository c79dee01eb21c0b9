#ifndef GREET_H
#define GREET_H
/* libgreet 2.0: a tiny library for the ferry demo. */
const char *greet_version(void);
void greet(const char *who);
/* New in 2.0: programs built against 2.0 need it, 1.0 does not have it. */
void greet_loudly(const char *who);
#endif
