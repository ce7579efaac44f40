"""Plausible names for the synthetic mart: people (pinyin), shops, companies and phone numbers."""

from __future__ import annotations

import numpy as np

SURNAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
    "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Luo", "Liang", "Zheng", "Xie", "Tang", "Feng",
    "Deng", "Cao", "Peng", "Zeng", "Xiao", "Tian", "Pan", "Yuan", "Cai", "Jiang", "Lu", "Ye",
)
GIVEN_NAMES = (
    "Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong", "Yan",
    "Jie", "Tao", "Ming", "Chao", "Xiulan", "Xia", "Hui", "Ping", "Gang", "Guiying", "Haiyan",
    "Jianhua", "Zhiqiang", "Xiaoming", "Lihua", "Yuting", "Zihan", "Haoran", "Jiahui", "Shuang",
    "Wenjie", "Dan", "Lan", "Kai", "Bo", "Xin", "Yu", "Hong",
)
#: Shop names for social outlets: (pinyin, hanzi).
SHOP_WORDS = (
    ("Xinda", "鑫达"), ("Hengtong", "恒通"), ("Jiale", "佳乐"), ("Meijia", "美佳"), ("Huafeng", "华丰"),
    ("Kangda", "康达"), ("Shunfa", "顺发"), ("Yuelai", "悦来"), ("Fuxing", "福星"), ("Tianyu", "天宇"),
    ("Jinlong", "金龙"), ("Haoyun", "好运"), ("Lianfa", "联发"), ("Minghui", "明辉"), ("Ruixiang", "瑞祥"),
)
SHOP_KINDS = (
    ("Phone Shop", "手机店"), ("Convenience Store", "便利店"), ("Digital Store", "数码店"),
    ("Newsstand", "报刊亭"), ("Supermarket", "超市"), ("Phone Repair", "手机维修"),
)
E_CHANNELS = (
    ("Online Hall", "网上营业厅"), ("Mobile App", "手机营业厅"), ("WeChat Mini Program", "微信小程序"),
    ("Tmall Flagship Store", "天猫旗舰店"), ("JD Flagship Store", "京东旗舰店"),
    ("10086 Hotline Sales", "10086热线"), ("Alipay Mini Program", "支付宝小程序"),
    ("Douyin Live Store", "抖音直播间"),
)
#: Enterprise customers: name words and industries, (pinyin, hanzi).
COMPANY_WORDS = (
    ("Huaxin", "华信"), ("Jinda", "金达"), ("Haitong", "海通"), ("Zhongyuan", "中远"), ("Yongsheng", "永盛"),
    ("Hongtai", "宏泰"), ("Lianhe", "联合"), ("Tianli", "天利"), ("Dongfang", "东方"), ("Guangda", "光大"),
    ("Ruifeng", "瑞丰"), ("Boya", "博雅"), ("Gaoke", "高科"), ("Xinghai", "星海"), ("Zhujiang", "珠江"),
    ("Lingnan", "岭南"), ("Haibin", "海滨"), ("Wanjia", "万家"),
)
INDUSTRIES = (
    ("government", "Administration", "管理局"), ("education", "School", "学校"),
    ("healthcare", "Hospital", "医院"), ("manufacturing", "Manufacturing", "制造"),
    ("logistics", "Logistics", "物流"), ("tourism", "Resort & Hotels", "度假酒店"),
    ("finance", "Bank", "银行"), ("retail", "Retail", "商贸"), ("real estate", "Property", "置业"),
    ("IT", "Technology", "科技"), ("port", "Port Services", "港务"),
)
#: Real-looking Chinese mobile number prefixes.
MSISDN_PREFIXES = np.array([134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 178,
                            182, 183, 184, 187, 188, 198], dtype=np.int64)


def person_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct pinyin names (surname first), repeating only when all are used."""
    pool = [f"{s} {g}" for s in SURNAMES for g in GIVEN_NAMES]
    order = rng.permutation(len(pool))
    return [pool[order[i % len(pool)]] for i in range(count)]


def msisdns(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` unique 11-digit mobile numbers as strings, in random order."""
    space = len(MSISDN_PREFIXES) * 10**8
    numbers = np.empty(0, dtype=np.int64)
    while numbers.size < count:  # duplicates are rare: redraw until there are enough
        draw = rng.integers(0, space, size=int(count * 1.05) + 16, dtype=np.int64)
        merged = np.concatenate([numbers, draw])
        _, first = np.unique(merged, return_index=True)
        numbers = merged[np.sort(first)]
    numbers = numbers[:count]
    whole = MSISDN_PREFIXES[numbers // 10**8] * 10**8 + numbers % 10**8
    return whole.astype(str)
