#ifndef CONFIG_H
#define CONFIG_H

#define GREETING "Fair winds from the harbour"
#define REPEAT 3

#endif
