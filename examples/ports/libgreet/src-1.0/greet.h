#ifndef GREET_H
#define GREET_H
/* libgreet 1.0: a tiny library for the ferry demo. */
const char *greet_version(void);
void greet(const char *who);

#endif
