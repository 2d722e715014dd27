/* placeholder: replaced when the io module lands */
typedef int azs_io_placeholder;
